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
  common base class.
"""

from __future__ import annotations

from collections.abc import Callable

from mypy.nodes import ARG_POS, Expression, TempNode, TupleExpr
from mypy.plugin import FunctionSigContext, MethodSigContext, Plugin
from mypy.subtypes import is_subtype
from mypy.typeops import make_simplified_union
from mypy.types import (
    CallableType,
    FunctionLike,
    Instance,
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


class EffectPlugin(Plugin):
    def get_function_signature_hook(self, fullname: str) -> Callable[[FunctionSigContext], FunctionLike] | None:
        if fullname in _CATCH_FUNCTIONS:
            return _specialize_function
        if fullname == _PIPE_FUNCTION:
            return _pipe_function
        return None

    def get_method_signature_hook(self, fullname: str) -> Callable[[MethodSigContext], FunctionLike] | None:
        if fullname == _CATCH_METHOD:
            return _specialize_method
        if fullname == _PROVIDE_METHOD:
            return _provide_method
        if fullname == _PIPE_METHOD:
            return _pipe_method
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
        return _narrow_return(_substitute(sig, bound), caught)

    return _specialize_each(ctx.default_signature, one)


def _specialize_method(ctx: MethodSigContext) -> FunctionLike:
    sig = ctx.default_signature
    bound = _bindings(sig, ctx.args, ctx.api.get_expression_type)
    return _narrow_return(_substitute(sig, bound), list(bound.values()))


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
        nxt = _apply_exact(step, cur)
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


def _apply_exact(step: Type, arg: Type) -> Type | None:
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
    for template, value in zip(formal.args, actual.args, strict=True):
        t = get_proper_type(template)
        if isinstance(t, TypeVarType) and t.id in own:
            solved[t.id] = value
            continue
        if isinstance(t, UnionType):
            fixed = [i for i in _items(t) if not (isinstance(i, TypeVarType) and i.id in own)]
            free = [i for i in _items(t) if isinstance(i, TypeVarType) and i.id in own]
            if len(free) == 1 and isinstance(free[0], TypeVarType):
                solved[free[0].id] = _remove(value, fixed)
                continue
        return None
    if set(solved) != own:
        return None
    return expand_type(callee.ret_type, solved)


__all__ = ["EffectPlugin", "plugin"]
