"""Services and layers: typed dependency injection for effects.

A service is a class deriving from `Service`; the class itself is the tag.
`yield from Analytics` inside a `@gen` gives the implementation in scope and
adds `Analytics` to the effect's `R`. A `Layer[ROut, E, RIn]` builds the
services `ROut`, may fail with `E` and needs `RIn`. Layers are built lazily,
when the provided effect runs, and each layer object is built once per
`provide` even if it is reached through several merges.
"""

from __future__ import annotations

from abc import ABCMeta
from collections.abc import Callable, Generator, Mapping
from typing import TYPE_CHECKING, Any, Generic, Never, Protocol, cast, overload

from typing_extensions import TypeVar

from durable_effect.effect._core import (
    Effect,
    _FlatMap,
    _Map,
    _ServiceAccess,
    _Succeed,
    _Suspend,
)

if TYPE_CHECKING:
    from durable_effect.effect.scope import Scope

ROut = TypeVar("ROut", covariant=True)
E = TypeVar("E", covariant=True, default=Never)
RIn = TypeVar("RIn", covariant=True, default=Never)

S = TypeVar("S", bound="Service")
S2 = TypeVar("S2")
S3 = TypeVar("S3")
S4 = TypeVar("S4")
X = TypeVar("X")
E1 = TypeVar("E1")
E2 = TypeVar("E2")
E3 = TypeVar("E3")
E4 = TypeVar("E4")
R1 = TypeVar("R1")
R2 = TypeVar("R2")
R3 = TypeVar("R3")
R4 = TypeVar("R4")

__all__ = ["Layer", "Service", "ServiceMeta", "ServiceTag", "service"]


class ServiceMeta(ABCMeta):
    """Metaclass that makes a service class yieldable: `impl = yield from Tag`."""

    _access: _ServiceAccess[Any, Any]

    def __init__(cls, name: str, bases: tuple[type, ...], ns: dict[str, Any], **kw: Any) -> None:
        super().__init__(name, bases, ns, **kw)
        cls._access = _ServiceAccess(cls)

    if TYPE_CHECKING:

        def __iter__(cls: type[X]) -> Generator[Effect[object, Never, X], object, X]: ...

    else:

        def __iter__(cls):
            return (yield cls._access)


class Service(metaclass=ServiceMeta):
    """Base of service interfaces. The subclass is the tag; any instance of a
    subclass of it is an implementation."""

    __slots__ = ()


S_co = TypeVar("S_co", covariant=True)


class ServiceTag(Protocol[S_co]):
    """A service class used as a tag. Typed as a protocol rather than
    `type[S]` so abstract service interfaces are accepted."""

    def __iter__(self) -> Generator[Effect[object, Never, S_co], object, S_co]: ...


def _tag_class(tag: ServiceTag[Any]) -> type:
    if not (isinstance(tag, ServiceMeta)):
        raise TypeError(f"{tag!r} is not a Service class")
    return tag


def service(tag: ServiceTag[S]) -> Effect[S, Never, S]:
    """The implementation of `tag` in scope, as an effect needing `tag`."""
    access: Effect[S, Never, S] = cast(ServiceMeta, _tag_class(tag))._access
    return access


class Layer(Generic[ROut, E, RIn]):
    """A recipe that builds services `ROut`, may fail with `E`, needs `RIn`."""

    __slots__ = ("_build", "_name", "_scoped")

    def __init__(
        self,
        build: Callable[[dict[int, Mapping[type, object]]], Effect[Mapping[type, object], Any, Any]],
        name: str,
        scoped: bool = False,
    ) -> None:
        self._build = build
        self._name = name
        self._scoped = scoped  # building it needs a Scope, closed when the provided effect ends

    def __repr__(self) -> str:
        return f"Layer({self._name})"

    def build(self, memo: dict[int, Mapping[type, object]]) -> Effect[Mapping[type, object], E, RIn]:
        """The effect that builds this layer's services, memoized in `memo`."""
        key = id(self)
        if key in memo:
            return _Succeed(memo[key])

        def remember(services: Mapping[type, object]) -> Mapping[type, object]:
            memo[key] = services
            return services

        return _Map(self._build(memo), remember)

    @staticmethod
    def succeed(tag: ServiceTag[S], impl: S) -> Layer[S, Never, Never]:
        """A layer that provides `impl` for `tag`."""
        cls = _tag_class(tag)
        services: Mapping[type, object] = {cls: _checked(cls, impl)}
        return Layer(lambda _memo: _Succeed(services), cls.__name__)

    @staticmethod
    def sync(tag: ServiceTag[S], make: Callable[[], S]) -> Layer[S, Never, Never]:
        """A layer that calls `make()` when it is built."""
        cls = _tag_class(tag)
        return Layer(lambda _memo: _Suspend(lambda: _Succeed({cls: _checked(cls, make())})), cls.__name__)

    @staticmethod
    def effect(tag: ServiceTag[S], eff: Effect[S, E1, R1]) -> Layer[S, E1, R1]:
        """A layer whose implementation is the result of running `eff`."""
        cls = _tag_class(tag)
        return Layer(lambda _memo: _Map(eff, lambda impl: {cls: _checked(cls, impl)}), cls.__name__)

    @overload
    @staticmethod
    def scoped(tag: ServiceTag[S], eff: Effect[S, E1, Scope]) -> Layer[S, E1]: ...
    @overload
    @staticmethod
    def scoped(tag: ServiceTag[S], eff: Effect[S, E1, R1 | Scope]) -> Layer[S, E1, R1]: ...
    @staticmethod
    def scoped(tag: ServiceTag[S], eff: Effect[S, Any, Any]) -> Layer[S, Any, Any]:
        """A layer whose implementation comes from `eff`, which may acquire
        resources (`acquire_release`, `add_finalizer`): they are released when
        the effect the layer is provided to ends, whatever its outcome."""
        cls = _tag_class(tag)
        return Layer(lambda _memo: _Map(eff, lambda impl: {cls: _checked(cls, impl)}), cls.__name__, scoped=True)

    @overload
    @staticmethod
    def merge(l1: Layer[S2, E1, R1], l2: Layer[S3, E2, R2], /) -> Layer[S2 | S3, E1 | E2, R1 | R2]: ...
    @overload
    @staticmethod
    def merge(
        l1: Layer[S2, E1, R1], l2: Layer[S3, E2, R2], l3: Layer[S4, E3, R3], /
    ) -> Layer[S2 | S3 | S4, E1 | E2 | E3, R1 | R2 | R3]: ...
    @overload
    @staticmethod
    def merge(
        l1: Layer[S2, E1, R1],
        l2: Layer[S3, E2, R2],
        l3: Layer[S4, E3, R3],
        l4: Layer[X, E4, R4],
        /,
    ) -> Layer[S2 | S3 | S4 | X, E1 | E2 | E3 | E4, R1 | R2 | R3 | R4]: ...
    @staticmethod
    def merge(*layers: Layer[Any, Any, Any]) -> Layer[Any, Any, Any]:
        """Combine layers; the result provides every service of each."""

        def build(memo: dict[int, Mapping[type, object]]) -> Effect[Mapping[type, object], Any, Any]:
            acc: Effect[dict[type, object], Any, Any] = _Succeed({})
            for layer in layers:
                acc = _FlatMap(acc, _merge_into(layer, memo))
            return acc

        return Layer(build, " + ".join(layer._name for layer in layers), any(layer._scoped for layer in layers))

    def provide(self, dependency: Layer[X, E1, R1]) -> Layer[ROut, E | E1, R1 | RIn]:
        """Feed `dependency`'s services to this layer while it is built.

        The result still lists `RIn` (mypy cannot subtract `X` in a method);
        the pipeable `provide(layer)` on effects is exact.
        """

        def build(memo: dict[int, Mapping[type, object]]) -> Effect[Mapping[type, object], Any, Any]:
            from durable_effect.effect._core import _Locally

            return _FlatMap(dependency.build(memo), lambda deps: _Locally(self.build(memo), deps))

        return Layer(build, f"{self._name} <- {dependency._name}", self._scoped or dependency._scoped)


def _merge_into(
    layer: Layer[Any, Any, Any], memo: dict[int, Mapping[type, object]]
) -> Callable[[dict[type, object]], Effect[dict[type, object], Any, Any]]:
    def step(acc: dict[type, object]) -> Effect[dict[type, object], Any, Any]:
        return _Map(layer.build(memo), lambda built: {**acc, **built})

    return step


def _checked(tag: type, impl: object) -> Any:
    if not isinstance(impl, tag):
        raise TypeError(f"{impl!r} is not an implementation of {tag.__name__}")
    return impl
