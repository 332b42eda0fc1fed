"""A mypy plugin that makes error handling and service provision exact.

Enable it in your mypy configuration::

    [tool.mypy]
    plugins = ["durable_effect.mypy"]

The project's own checks run with it. Without it, mypy types the pipeable
forms from the pipe's context, which can widen a caught class or a provided
service to a common base class (see `tests/typing/known_gaps.py`). With it:

- the error class given to `catch_tag` / `catch_tags` types the handler's
  parameter before anything else is inferred, so a `lambda e: ...` handler
  sees `e` as that class;
- `eff.catch_tag(Cls, f)` and `catch_tag(eff, Cls, f)` remove exactly `Cls`
  (and its subclasses) from the error union, for a union of any size;
- `eff.pipe(...)` and `pipe(eff, ...)` apply pipeable combinators such as
  `catch_tag(Cls, f)` and `provide(layer)` by removing the handled errors or
  provided services from the union, instead of widening the rest to a
  common base class;
- `catch_tag` / `catch_tags` (every form) refuse a class the effect cannot
  fail with (`catch-tag`).

For rooms:

- `WebSocketRoom.make("chat", ...)` is typed with its name, `Literal['chat']`;
- a method that takes a room (`registry.for_` / `handler`, `ctx.room`,
  `rt.room`, `rt.testing_connect`, a host client's `room`) types a name as
  the room it names, refuses a room or name its registry does not hold
  (`unknown-room`), and fixes the room's schemas before the other arguments
  are inferred; `registry.build({...})` checks the names of a dict literal;
- the services the handlers need (`R`) go through `with_services` (minus what
  the layer provides) and `build` (the union), and a host given a config
  (`make_in_memory_socket_runtime`, `SocketServer` / `make_socket_server`,
  `make_socket_group_do`, the test runtimes and fixtures) must get a
  `services=` layer that provides them (`missing-service`).
"""

from __future__ import annotations

from collections.abc import Callable

from mypy.errorcodes import ErrorCode
from mypy.nodes import ARG_POS, DictExpr, Expression, StrExpr, TempNode, TupleExpr
from mypy.plugin import FunctionSigContext, MethodContext, MethodSigContext, Plugin
from mypy.subtypes import is_subtype
from mypy.typeops import make_simplified_union
from mypy.types import (
    AnyType,
    CallableType,
    FunctionLike,
    Instance,
    LiteralType,
    Overloaded,
    TupleType,
    Type,
    TypeType,
    TypeVarId,
    TypeVarType,
    UninhabitedType,
    UnionType,
    get_proper_type,
)

_EFFECT = "durable_effect.effect._core.Effect"
_CATCH_FUNCTIONS = {
    "durable_effect.effect._combinators.catch_tag",
    "durable_effect.effect._combinators.catch_tags",
}
_CATCH_METHOD = f"{_EFFECT}.catch_tag"
_PIPE_METHOD = f"{_EFFECT}.pipe"
_PROVIDE_METHOD = f"{_EFFECT}.provide"
_LAYER = "durable_effect.effect.layer.Layer"
_PIPE_FUNCTION = "durable_effect.effect._combinators.pipe"

_ROOM = "durable_effect.sockets.room.WebSocketRoom"
_REGISTRY = "durable_effect.sockets.registry.SocketRegistry"
_HANDLERS = "durable_effect.sockets.registry.RoomHandlers"
_CONFIG = "durable_effect.sockets.registry.SocketConfig"
_WITH_SERVICES = "durable_effect.sockets.registry.with_services"
# Methods that take a room (by declaration or by name) as their first argument,
# with the index of the type argument of their class that holds the known rooms.
_ROOM_METHODS = {
    f"{_REGISTRY}.for_": 0,
    f"{_REGISTRY}.handler": 0,
    "durable_effect.sockets.ctx.RoomCtx.room": 4,
    "durable_effect.sockets.api.SocketClientService.room": 0,
    "durable_effect.sockets.memory.InMemorySocketRuntime.room": 0,
    "durable_effect.sockets.memory.InMemorySocketRuntime.testing_connect": 0,
    "durable_effect.sockets.server.app.SocketServer.room": 0,
    "durable_effect.sockets.cloudflare.testing.CloudflareTestRuntime.room": 0,
    "durable_effect.sockets.cloudflare.testing.CloudflareTestRuntime.testing_connect": 0,
}
# Where a config meets its services: functions and classes taking `config` and `services`.
_HOST_FUNCTIONS = {
    "durable_effect.sockets.memory.make_in_memory_socket_runtime",
    "durable_effect.sockets.memory.InMemorySocketRuntime",
    "durable_effect.sockets.server.app.SocketServer",
    "durable_effect.sockets.cloudflare.do.make_socket_group_do",
    "durable_effect.sockets.cloudflare.do.SocketGroup",
    "durable_effect.sockets.cloudflare.testing.CloudflareTestRuntime",
}
_HOST_METHODS = {
    "durable_effect.sockets.testing.RuntimeFactory.__call__",
    "durable_effect.sockets.cloudflare.testing.CloudflareRuntimeFactory.__call__",
}
# Services every host gives its handlers itself.
_HOST_SERVICES = {
    "durable_effect.effect.clock.Clock",
    "durable_effect.sockets.api.SocketClientService",
    "durable_effect.platform.Storage",
    "durable_effect.platform.Alarm",
    "durable_effect.platform.CloudflareEnv",
}

UNCAUGHT = ErrorCode("catch-tag", "A caught error class the effect cannot fail with", "General")
UNKNOWN_ROOM = ErrorCode("unknown-room", "A room (or room name) not in the registry", "General")
MISSING_SERVICE = ErrorCode("missing-service", "Handlers need a service no layer provides", "General")


class EffectPlugin(Plugin):
    def get_function_signature_hook(self, fullname: str) -> Callable[[FunctionSigContext], FunctionLike] | None:
        if fullname in _CATCH_FUNCTIONS:
            return _specialize_function
        if fullname == _PIPE_FUNCTION:
            return _pipe_function
        if fullname == _WITH_SERVICES:
            return _with_services
        if fullname in _HOST_FUNCTIONS:
            return _host_function
        return None

    def get_method_signature_hook(self, fullname: str) -> Callable[[MethodSigContext], FunctionLike] | None:
        if fullname == _CATCH_METHOD:
            return _specialize_method
        if fullname == _PROVIDE_METHOD:
            return _provide_method
        if fullname == _PIPE_METHOD:
            return _pipe_method
        if fullname in _ROOM_METHODS:
            owner, index = fullname.rsplit(".", 1)[0], _ROOM_METHODS[fullname]
            return lambda ctx: _room_method(ctx, owner, index)
        if fullname == f"{_REGISTRY}.build":
            return _build_method
        if fullname in _HOST_METHODS:
            return _host_method
        return None

    def get_method_hook(self, fullname: str) -> Callable[[MethodContext], Type] | None:
        if fullname == f"{_ROOM}.make":
            return _room_make
        return None


def plugin(version: str) -> type[Plugin]:
    return EffectPlugin


# -- specialising catch_tag --------------------------------------------------------


def _class_instance(t: Type) -> Instance | None:
    p = get_proper_type(t)
    if isinstance(p, FunctionLike) and p.is_type_obj():
        ret = get_proper_type(p.items[0].ret_type)
        return ret if isinstance(ret, Instance) else None
    if isinstance(p, TypeType):
        item = get_proper_type(p.item)
        return item if isinstance(item, Instance) else None
    return None


def _bindings(
    sig: CallableType, args: list[list[Expression]], type_of: Callable[[Expression], Type]
) -> dict[TypeVarId, Type]:
    """Type variables fixed by `type[X]` parameters (or `(type[X], f)` pairs)."""
    out: dict[TypeVarId, Type] = {}
    flat = [expr for group in args for expr in group]
    if len(flat) != len(sig.arg_types):
        return out
    for formal, expr in zip(sig.arg_types, flat, strict=True):
        f = get_proper_type(formal)
        if isinstance(f, TupleType) and isinstance(expr, TupleExpr) and f.items and expr.items:
            f = get_proper_type(f.items[0])
            expr = expr.items[0]
        if isinstance(f, TypeType):
            var = get_proper_type(f.item)
            if isinstance(var, TypeVarType):
                inst = _class_instance(type_of(expr))
                if inst is not None:
                    out[var.id] = inst
    return out


def _substitute(sig: CallableType, bound: dict[TypeVarId, Type]) -> CallableType:
    from mypy.expandtype import expand_type

    if not bound:
        return sig
    expanded = expand_type(sig, dict(bound))
    assert isinstance(expanded, CallableType)
    return expanded.copy_modified(variables=[v for v in sig.variables if v.id not in bound])


def _narrow_return(sig: CallableType, caught: list[Type]) -> CallableType:
    ret = get_proper_type(sig.ret_type)
    if isinstance(ret, Instance) and ret.type.fullname == _EFFECT and len(ret.args) == 3:
        new_e = _remove(ret.args[1], caught)
        return sig.copy_modified(ret_type=ret.copy_modified(args=[ret.args[0], new_e, ret.args[2]]))
    return sig


def _remove(union: Type, caught: list[Type]) -> Type:
    items = _items(union)
    kept = [
        t for t in items if isinstance(get_proper_type(t), TypeVarType) or not any(is_subtype(t, c) for c in caught)
    ]
    return make_simplified_union(kept) if kept else UninhabitedType()


def _items(t: Type) -> list[Type]:
    p = get_proper_type(t)
    if isinstance(p, UnionType):
        out: list[Type] = []
        for item in p.items:
            out.extend(_items(item))
        return out
    if isinstance(p, UninhabitedType):
        return []
    return [p]


def _specialize_each(sig: FunctionLike, fn: Callable[[CallableType], CallableType]) -> FunctionLike:
    if isinstance(sig, CallableType):
        return fn(sig)
    assert isinstance(sig, Overloaded)
    return Overloaded([fn(item) for item in sig.items])


def _specialize_function(ctx: FunctionSigContext) -> FunctionLike:
    def one(sig: CallableType) -> CallableType:
        bound = _bindings(sig, ctx.args, ctx.api.get_expression_type)
        caught: list[Type] = list(bound.values())
        flat = [expr for group in ctx.args for expr in group]
        # Data-first form: fix the effect's own type variables from the argument.
        first = get_proper_type(sig.arg_types[0]) if sig.arg_types else None
        if bound and flat and isinstance(first, Instance) and first.type.fullname == _EFFECT:
            actual = get_proper_type(ctx.api.get_expression_type(flat[0]))
            if isinstance(actual, Instance) and actual.type.fullname == _EFFECT:
                for template, value in zip(first.args, actual.args, strict=True):
                    var = get_proper_type(template)
                    if isinstance(var, TypeVarType):
                        bound[var.id] = value
                _check_caught(ctx, caught, actual.args[1])
        return _narrow_return(_substitute(sig, bound), caught)

    return _specialize_each(ctx.default_signature, one)


def _specialize_method(ctx: MethodSigContext) -> FunctionLike:
    sig = ctx.default_signature
    bound = _bindings(sig, ctx.args, ctx.api.get_expression_type)
    self_type = get_proper_type(ctx.type)
    if isinstance(self_type, Instance) and self_type.type.fullname == _EFFECT:
        _check_caught(ctx, list(bound.values()), self_type.args[1])
    return _narrow_return(_substitute(sig, bound), list(bound.values()))


def _check_caught(ctx: MethodSigContext | FunctionSigContext, caught: list[Type], errors: Type) -> None:
    """Each caught class must be able to occur: a member of `errors`, a
    subclass of one, or a base class of one."""
    items = _items(errors)
    if any(isinstance(get_proper_type(i), TypeVarType | AnyType) for i in items):
        return  # generic code: anything may occur
    for cls in caught:
        if isinstance(get_proper_type(cls), AnyType | TypeVarType):
            continue
        if any(is_subtype(cls, e) or is_subtype(e, cls) for e in items):
            continue
        fails = " | ".join(_show(ctx, e) for e in items)
        why = f"it fails only with {fails}" if items else "it cannot fail"
        ctx.api.fail(f"{_show(ctx, cls)} can never be caught here: {why}", ctx.context, code=UNCAUGHT)


def _provide_method(ctx: MethodSigContext) -> FunctionLike:
    """`eff.provide(layer)`: remove the services the layer builds from `R`."""
    sig = ctx.default_signature
    flat = [expr for group in ctx.args for expr in group]
    if not (isinstance(sig, CallableType) and len(flat) == 1):
        return sig
    layer = get_proper_type(ctx.api.get_expression_type(flat[0]))
    ret = get_proper_type(sig.ret_type)
    self_type = get_proper_type(ctx.type)
    if not (
        isinstance(layer, Instance)
        and layer.type.fullname == _LAYER
        and isinstance(ret, Instance)
        and isinstance(self_type, Instance)
        and self_type.type.fullname == _EFFECT
    ):
        return sig
    needed = _remove(self_type.args[2], _items(layer.args[0]))
    new_r = make_simplified_union([needed, layer.args[2]])
    return sig.copy_modified(ret_type=ret.copy_modified(args=[ret.args[0], ret.args[1], new_r]))


# -- pipe: apply each step, subtracting unions exactly ------------------------------


def _pipe_method(ctx: MethodSigContext) -> FunctionLike:
    steps = [expr for group in ctx.args for expr in group]
    return _pipe_signature(ctx, ctx.type, steps, len(steps))


def _pipe_function(ctx: FunctionSigContext) -> FunctionLike:
    exprs = [expr for group in ctx.args for expr in group]
    if not exprs:
        return ctx.default_signature
    return _pipe_signature(ctx, ctx.api.get_expression_type(exprs[0]), exprs[1:], len(exprs))


def _pipe_signature(
    ctx: MethodSigContext | FunctionSigContext, start: Type, steps: list[Expression], arity: int
) -> FunctionLike:
    """Fold the steps' own types over `start`, then accept exactly those steps.

    Each step is typed without the pipe as context, so a pipeable combinator
    keeps its generic signature and is applied by `_apply_exact`.
    """
    default = ctx.default_signature
    fallback = default.fallback if isinstance(default, CallableType) else default.items[0].fallback
    cur = start
    for expr in steps:
        # Trial typings report nothing; the step's real check comes after.
        with ctx.api.msg.filter_errors():
            step = ctx.api.get_expression_type(expr)
        nxt = _apply_exact(step, cur, lambda caught, errors: _check_caught(ctx, caught, errors))
        if nxt is None:
            # Not a union-subtracting step: type it the usual way, with the
            # value flowing in as context (so lambdas see their parameter).
            context = CallableType([cur], [ARG_POS], [None], UninhabitedType(), fallback)
            with ctx.api.msg.filter_errors():
                step = ctx.api.get_expression_type(expr, context)
            callee = get_proper_type(step)
            if not isinstance(callee, CallableType | Instance | Overloaded):
                return default
            nxt = ctx.api.expr_checker.check_call(  # type: ignore[attr-defined]  # the checker behind the plugin API
                callee, [TempNode(cur, context=expr)], [ARG_POS], expr
            )[0]
        cur = nxt
    obj = ctx.api.named_generic_type("builtins.object", [])
    return CallableType([obj] * arity, [ARG_POS] * arity, [None] * arity, cur, fallback)


def _apply_exact(step: Type, arg: Type, check_caught: Callable[[list[Type], Type], None] | None = None) -> Type | None:
    """Apply a one-argument generic callable `Effect[...] -> ...` to `arg`,
    solving `K | T` templates by removing the `K` items from `arg`'s union."""
    from mypy.expandtype import expand_type

    callee = get_proper_type(step)
    actual = get_proper_type(arg)
    if not (isinstance(callee, CallableType) and callee.variables and len(callee.arg_types) == 1):
        return None
    formal = get_proper_type(callee.arg_types[0])
    if not (
        isinstance(formal, Instance)
        and formal.type.fullname == _EFFECT
        and isinstance(actual, Instance)
        and actual.type.fullname == _EFFECT
    ):
        return None
    own = {v.id for v in callee.variables}
    solved: dict[TypeVarId, Type] = {}
    caught: tuple[list[Type], Type] | None = None
    for index, (template, value) in enumerate(zip(formal.args, actual.args, strict=True)):
        t = get_proper_type(template)
        if isinstance(t, TypeVarType) and t.id in own:
            solved[t.id] = value
            continue
        if isinstance(t, UnionType):
            fixed = [i for i in _items(t) if not (isinstance(i, TypeVarType) and i.id in own)]
            free = [i for i in _items(t) if isinstance(i, TypeVarType) and i.id in own]
            if len(free) == 1 and isinstance(free[0], TypeVarType):
                solved[free[0].id] = _remove(value, fixed)
                if index == 1:  # the error channel: the classes a catch handles
                    caught = (fixed, value)
                continue
        return None
    if set(solved) != own:
        return None
    if caught is not None and check_caught is not None:
        check_caught(*caught)
    return expand_type(callee.ret_type, solved)


# -- rooms: literal names, registered rooms, string forms --------------------------


def _show(ctx: MethodSigContext | FunctionSigContext | MethodContext, t: Type) -> str:
    from mypy.messages import format_type

    return format_type(t, ctx.api.options)


def _instance(t: Type, fullname: str) -> Instance | None:
    p = get_proper_type(t)
    return p if isinstance(p, Instance) and p.type.fullname == fullname else None


def _literal_str(t: Type) -> str | None:
    p = get_proper_type(t)
    if isinstance(p, LiteralType) and isinstance(p.value, str):
        return p.value
    if isinstance(p, Instance) and p.last_known_value is not None and isinstance(p.last_known_value.value, str):
        return p.last_known_value.value
    return None


def _room_make(ctx: MethodContext) -> Type:
    """`WebSocketRoom.make("chat", ...)`: the room's name type is `Literal["chat"]`."""
    ret = _instance(ctx.default_return_type, _ROOM)
    if ret is None or not ctx.arg_types or not ctx.arg_types[0] or len(ret.args) != 5:
        return ctx.default_return_type
    name = _literal_str(ctx.arg_types[0][0])
    if name is None:
        return ctx.default_return_type
    literal = LiteralType(name, ctx.api.named_generic_type("builtins.str", []))
    return ret.copy_modified(args=[*ret.args[:4], literal])


def _known_rooms(t: Type) -> list[Instance] | None:
    """The rooms of a union of `WebSocketRoom` types; None when not known
    (`object`, `Any`, a type variable): then any room is accepted."""
    rooms = [_instance(item, _ROOM) for item in _items(t)]
    if not rooms or any(room is None for room in rooms):
        return None
    return [room for room in rooms if room is not None]


def _room_name(room: Instance) -> str | None:
    return _literal_str(room.args[4]) if len(room.args) == 5 else None


def _registered(rooms: list[Instance]) -> str:
    names = [_room_name(room) for room in rooms]
    return ", ".join(f'"{name}"' for name in names if name is not None)


def _first_arg(context: object) -> Expression | None:
    from mypy.nodes import CallExpr

    return context.args[0] if isinstance(context, CallExpr) and context.args else None


def _room_method(ctx: MethodSigContext, owner: str, index: int) -> FunctionLike:
    """A method taking a room: refuse one not registered, type a name as the
    room it names, and fix the room's schemas before the other arguments
    are inferred (so a wrong model is reported against the room's)."""
    from mypy.maptype import map_instance_to_supertype

    sig = ctx.default_signature
    self_type = get_proper_type(ctx.type)
    expr = _first_arg(ctx.context)
    if not isinstance(self_type, Instance) or expr is None:
        return sig
    base = next((info for info in self_type.type.mro if info.fullname == owner), None)
    if base is None:
        return sig
    self_type = map_instance_to_supertype(self_type, base)  # a subclass: the owner's type arguments
    rooms = _known_rooms(self_type.args[index]) if len(self_type.args) > index else None
    actual = ctx.api.get_expression_type(expr)
    name = _literal_str(actual)
    if name is not None and rooms is not None:
        found = next((room for room in rooms if _room_name(room) == name), None)
        if found is None:
            message = f'No room named "{name}" is registered (the rooms: {_registered(rooms)})'
            ctx.api.fail(message, expr, code=UNKNOWN_ROOM)
            return sig
        return _bind_room(sig, found, actual)
    room = _instance(actual, _ROOM)
    if room is None:
        return sig
    # A room whose name is not a literal (a parameter typed `WebSocketRoom[S, C, Ev, B]`)
    # may be any of them: it is checked at run time.
    named = _room_name(room)
    if rooms is not None and named is not None and not any(is_subtype(room, known) for known in rooms):
        ctx.api.fail(f'Room "{named}" is not registered (the rooms: {_registered(rooms)})', expr, code=UNKNOWN_ROOM)
    return _bind_room(sig, room, actual)


def _bind_room(sig: FunctionLike, room: Instance, name_type: Type) -> FunctionLike:
    """The declaration form of `sig`, with its room fixed to `room` and the
    room parameter accepting the name."""
    items: list[CallableType] = list(sig.items)
    for item in items:
        formal = _instance(item.arg_types[0], _ROOM) if item.arg_types else None
        if formal is None:
            continue
        bound: dict[TypeVarId, Type] = {}
        for template, value in zip(formal.args, room.args, strict=True):
            var = get_proper_type(template)
            if isinstance(var, TypeVarType):
                bound[var.id] = value
        fixed = _substitute(item, bound)
        return fixed.copy_modified(arg_types=[name_type, *fixed.arg_types[1:]])
    # mypy asks for each overload in turn: the name's own (untyped) overload
    # must not match once the name is known.
    if isinstance(sig, CallableType) and sig.arg_types and _literal_str(name_type) is not None:
        return sig.copy_modified(arg_types=[UninhabitedType(), *sig.arg_types[1:]])
    return sig


def _build_method(ctx: MethodSigContext) -> FunctionLike:
    """`registry.build({...})`: the keys are the registered names, and the
    config needs the union of what each bundle needs."""
    sig = ctx.default_signature
    self_type = _instance(ctx.type, _REGISTRY)
    expr = _first_arg(ctx.context)
    ret = _instance(sig.ret_type, _CONFIG) if isinstance(sig, CallableType) else None
    if self_type is None or ret is None or not isinstance(sig, CallableType) or not isinstance(expr, DictExpr):
        return sig
    rooms = _known_rooms(self_type.args[0])
    needs: list[Type] = []
    given: list[str] = []
    for key, value in expr.items:
        with ctx.api.msg.filter_errors():
            bundle = _instance(ctx.api.get_expression_type(value), _HANDLERS)
        if key is None or bundle is None or len(bundle.args) != 6:
            return sig
        needs.append(bundle.args[4])
        if not isinstance(key, StrExpr):
            continue
        given.append(key.value)
        bundle_name = _literal_str(bundle.args[5])
        if rooms is not None and not any(_room_name(room) == key.value for room in rooms):
            ctx.api.fail(
                f'No room named "{key.value}" is registered (the rooms: {_registered(rooms)})', key, code=UNKNOWN_ROOM
            )
        elif bundle_name is not None and bundle_name != key.value:
            ctx.api.fail(
                f'The handlers of room "{bundle_name}" are given under the name "{key.value}"', key, code=UNKNOWN_ROOM
            )
    if rooms is not None:
        missing = [name for room in rooms if (name := _room_name(room)) is not None and name not in given]
        if missing:
            listed = ", ".join(f'"{name}"' for name in missing)
            ctx.api.fail(f"No handlers are given for the room(s) {listed}", expr, code=UNKNOWN_ROOM)
    need = make_simplified_union(needs) if needs else UninhabitedType()
    return sig.copy_modified(ret_type=ret.copy_modified(args=[ret.args[0], need]))


# -- services: what handlers need, what layers provide -------------------------------


def _with_services(ctx: FunctionSigContext) -> FunctionLike:
    """`with_services(handlers, layer)`: the bundle needs what the layer does
    not provide, and what the layer itself needs."""
    sig = ctx.default_signature
    exprs = [expr for group in ctx.args for expr in group]
    if not isinstance(sig, CallableType) or len(exprs) != 2:
        return sig
    handlers = _instance(ctx.api.get_expression_type(exprs[0]), _HANDLERS)
    layer = _instance(ctx.api.get_expression_type(exprs[1]), _LAYER)
    if handlers is None or layer is None or len(handlers.args) != 6:
        return sig
    need = make_simplified_union([_remove(handlers.args[4], _items(layer.args[0])), layer.args[2]])
    return sig.copy_modified(ret_type=handlers.copy_modified(args=[*handlers.args[:4], need, handlers.args[5]]))


def _host_function(ctx: FunctionSigContext) -> FunctionLike:
    _check_services(ctx, ctx.default_signature, ctx.args)
    return ctx.default_signature


def _host_method(ctx: MethodSigContext) -> FunctionLike:
    _check_services(ctx, ctx.default_signature, ctx.args)
    return ctx.default_signature


def _check_services(
    ctx: MethodSigContext | FunctionSigContext, sig: FunctionLike, args: list[list[Expression]]
) -> None:
    """A config whose handlers still need services goes to a host only with a
    `services` layer that provides them all."""
    item = sig if isinstance(sig, CallableType) else sig.items[0]
    names = item.arg_names
    if "config" not in names or len(args) != len(names):
        return
    config_args = args[names.index("config")]
    config = _instance(ctx.api.get_expression_type(config_args[0]), _CONFIG) if config_args else None
    if config is None or len(config.args) != 2:
        return
    needed = _items(config.args[1])
    if any(isinstance(get_proper_type(t), AnyType | TypeVarType) for t in needed) or _instance(
        config.args[1], "builtins.object"
    ):
        return  # not known here
    services_args = args[names.index("services")] if "services" in names else []
    layer = _instance(ctx.api.get_expression_type(services_args[0]), _LAYER) if services_args else None
    if layer is not None:
        needed = _items(_remove(config.args[1], _items(layer.args[0]))) + _items(layer.args[2])
    missing = [t for t in needed if not _host_provided(t)]
    if not missing:
        return
    listed = ", ".join(_show(ctx, t) for t in missing)
    if layer is None:
        message = f"The handlers need services nobody provides: {listed}; pass services=<a layer that provides them>"
    else:
        message = f"The services layer does not provide {listed}, which the handlers need"
    ctx.api.fail(message, services_args[0] if services_args else ctx.context, code=MISSING_SERVICE)


def _host_provided(t: Type) -> bool:
    p = get_proper_type(t)
    return isinstance(p, Instance) and any(base.fullname in _HOST_SERVICES for base in p.type.mro)


__all__ = ["MISSING_SERVICE", "UNCAUGHT", "UNKNOWN_ROOM", "EffectPlugin", "plugin"]
