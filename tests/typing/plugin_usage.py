"""User code checked WITH the `durable_effect.mypy` plugin.

The plugin types a `catch_tag` handler from the class given, removes exactly
the caught class from the error union (method, data-first and pipe forms),
and removes exactly the provided services from `R`.
"""

from __future__ import annotations

from typing import reveal_type

from durable_effect.effect import (
    Effect,
    Layer,
    Service,
    TaggedError,
    catch_all,
    catch_tag,
    catch_tags,
    fail,
    map_error,
    pipe,
    provide,
    run_sync,
    succeed,
)


class Forbidden(TaggedError):
    user: str


class NotFound(TaggedError):
    room: str


class Busy(TaggedError):
    retry_in: int


class Rooms(Service):
    def size(self) -> int:
        raise NotImplementedError


class Db(Service):
    def url(self) -> str:
        raise NotImplementedError


class LiveRooms(Rooms):
    def size(self) -> int:
        return 3


class LiveDb(Db):
    def url(self) -> str:
        return "sqlite://"


def program() -> Effect[int, Forbidden | NotFound | Busy, Rooms | Db]:
    return succeed(1)


eff = program()
reveal_type(eff.catch_tag(Forbidden, lambda e: succeed(e.user)))  # N: Revealed type is "durable_effect.effect._core.Effect[int | str, plugin_usage.NotFound | plugin_usage.Busy, plugin_usage.Rooms | plugin_usage.Db]"
reveal_type(catch_tag(eff, Busy, lambda e: succeed(e.retry_in)))  # N: Revealed type is "durable_effect.effect._core.Effect[int, plugin_usage.Forbidden | plugin_usage.NotFound, plugin_usage.Rooms | plugin_usage.Db]"
reveal_type(eff.pipe(catch_tag(Forbidden, lambda e: succeed(e.user)), catch_tag(Busy, lambda e: fail(e))))  # N: Revealed type is "durable_effect.effect._core.Effect[int | str, plugin_usage.NotFound | plugin_usage.Busy, plugin_usage.Rooms | plugin_usage.Db]"
reveal_type(eff.pipe(catch_tags((Forbidden, lambda e: succeed(e.user)), (NotFound, lambda e: succeed(e.room)))))  # N: Revealed type is "durable_effect.effect._core.Effect[int | str, plugin_usage.Busy, plugin_usage.Rooms | plugin_usage.Db]"
reveal_type(eff.pipe(provide(Layer.succeed(Rooms, LiveRooms()))))  # N: Revealed type is "durable_effect.effect._core.Effect[int, plugin_usage.Forbidden | plugin_usage.NotFound | plugin_usage.Busy, plugin_usage.Db]"
reveal_type(eff.provide(Layer.succeed(Db, LiveDb())))  # N: Revealed type is "durable_effect.effect._core.Effect[int, plugin_usage.Forbidden | plugin_usage.NotFound | plugin_usage.Busy, plugin_usage.Rooms]"
reveal_type(eff.pipe(catch_all(lambda e: succeed(str(e)))))  # N: Revealed type is "durable_effect.effect._core.Effect[int | str, Never, plugin_usage.Rooms | plugin_usage.Db]"
reveal_type(pipe(eff, catch_tag(NotFound, lambda e: succeed(0)), map_error(lambda e: str(e))))  # N: Revealed type is "durable_effect.effect._core.Effect[int, str, plugin_usage.Rooms | plugin_usage.Db]"

both = Layer.merge(Layer.succeed(Rooms, LiveRooms()), Layer.succeed(Db, LiveDb()))
done = run_sync(eff.pipe(provide(both), catch_all(lambda e: succeed(-1))))
reveal_type(done)  # N: Revealed type is "int"
# Providing only one of two services leaves the other in R: running it is an error.
run_sync(eff.pipe(provide(Layer.succeed(Rooms, LiveRooms())), catch_all(lambda e: succeed(-1))))  # E: arg-type
eff.catch_tag(Forbidden, lambda e: succeed(e.room))  # E: attr-defined
