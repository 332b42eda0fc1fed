"""Services and layers: typed dependency injection."""

from __future__ import annotations

from typing import cast

import pytest

from durable_effect.effect import (
    Die,
    Effect,
    EffectGen,
    Fail,
    Failure,
    Layer,
    MissingServiceError,
    Service,
    TaggedError,
    fail,
    gen,
    provide,
    run_sync,
    run_sync_exit,
    service,
    succeed,
    sync,
    with_services,
)


class ConfigMissing(TaggedError):
    key: str


class Database(Service):
    def query(self, sql: str) -> Effect[list[str]]:
        raise NotImplementedError


class Analytics(Service):
    def track(self, event: str) -> Effect[None]:
        raise NotImplementedError


class Users(Service):
    def names(self) -> Effect[list[str]]:
        raise NotImplementedError


class FakeDatabase(Database):
    def __init__(self, rows: list[str]) -> None:
        self.rows = rows

    def query(self, sql: str) -> Effect[list[str]]:
        return succeed([f"{sql}: {row}" for row in self.rows])


class MemoryAnalytics(Analytics):
    def __init__(self) -> None:
        self.events: list[str] = []

    def track(self, event: str) -> Effect[None]:
        return sync(lambda: self.events.append(event))


class DbUsers(Users):
    def __init__(self, db: Database) -> None:
        self.db = db

    def names(self) -> Effect[list[str]]:
        return self.db.query("users")


@gen
def list_users() -> EffectGen[list[str], ConfigMissing, Database]:
    db = yield from Database
    rows = yield from db.query("users")
    return rows


@gen
def report() -> EffectGen[int, ConfigMissing, Database | Analytics]:
    db = yield from Database
    analytics = yield from Analytics
    rows = yield from db.query("users")
    yield from analytics.track(f"listed {len(rows)}")
    return len(rows)


class BuildCounter:
    """A layer whose construction is counted."""

    def __init__(self) -> None:
        self.builds = 0

    @gen
    def make_database(self) -> EffectGen[Database]:
        self.builds += 1
        yield from succeed(None).map(lambda _: None)
        return FakeDatabase(["ann"])


def test_layer_succeed_provides_an_implementation() -> None:
    eff = list_users().pipe(provide(Layer.succeed(Database, FakeDatabase(["ann", "bob"]))))

    assert run_sync(eff) == ["users: ann", "users: bob"]


def test_layer_succeed_rejects_a_wrong_implementation() -> None:
    with pytest.raises(TypeError, match="not an implementation of Database"):
        # mypy lets this pass (it solves the tag's type as the common base `Service`).
        Layer.succeed(Database, MemoryAnalytics())


def test_layer_sync_calls_its_factory_when_built_not_when_declared() -> None:
    made: list[str] = []

    def make() -> Database:
        made.append("db")
        return FakeDatabase(["ann"])

    layer = Layer.sync(Database, make)
    eff = list_users().pipe(provide(layer))

    assert made == []
    assert run_sync(eff) == ["users: ann"]
    assert run_sync(eff) == ["users: ann"]
    assert made == ["db", "db"]


def test_layer_effect_is_built_lazily_once_per_provide_even_if_merged_twice() -> None:
    counter = BuildCounter()
    db_layer = Layer.effect(Database, counter.make_database())
    analytics_layer = Layer.succeed(Analytics, MemoryAnalytics())
    app_layer = Layer.merge(db_layer, analytics_layer, db_layer)

    eff = report().pipe(provide(app_layer))
    assert counter.builds == 0

    assert run_sync(eff) == 1
    assert counter.builds == 1

    assert run_sync(eff) == 1
    assert counter.builds == 2


def test_a_layer_shared_by_a_dependency_and_the_app_is_built_once() -> None:
    counter = BuildCounter()
    db_layer = Layer.effect(Database, counter.make_database())
    users_layer = Layer.effect(Users, service(Database).map(DbUsers)).provide(db_layer)

    @gen
    def both() -> EffectGen[list[str], ConfigMissing, Database | Users]:
        users = yield from Users
        names = yield from users.names()
        rows = yield from list_users()
        return names + rows

    app = Layer.merge(users_layer, db_layer)
    # Layer.provide keeps the dependency's services in RIn for mypy (see its docstring).
    eff = cast("Effect[list[str], ConfigMissing]", both().pipe(provide(app)))

    assert run_sync(eff) == ["users: ann", "users: ann"]
    assert counter.builds == 1


def test_layer_merge_provides_every_service() -> None:
    analytics = MemoryAnalytics()
    layer = Layer.merge(Layer.succeed(Database, FakeDatabase(["a", "b", "c"])), Layer.succeed(Analytics, analytics))

    assert run_sync(report().pipe(provide(layer))) == 3
    assert analytics.events == ["listed 3"]


def test_layer_provide_feeds_a_dependency_to_a_layer_while_it_is_built() -> None:
    users_layer = Layer.effect(Users, service(Database).map(DbUsers)).provide(
        Layer.succeed(Database, FakeDatabase(["ann"]))
    )

    @gen
    def names() -> EffectGen[list[str], ConfigMissing, Users]:
        users = yield from Users
        found = yield from users.names()
        return found

    eff = cast("Effect[list[str], ConfigMissing]", names().pipe(provide(users_layer)))

    assert run_sync(eff) == ["users: ann"]


def test_a_dependency_given_with_layer_provide_is_not_visible_to_the_effect() -> None:
    users_layer = Layer.effect(Users, service(Database).map(DbUsers)).provide(
        Layer.succeed(Database, FakeDatabase(["ann"]))
    )

    eff = cast("Effect[list[str], ConfigMissing]", list_users().pipe(provide(users_layer)))

    ex = run_sync_exit(eff)
    assert isinstance(ex, Failure)
    [missing] = ex.cause.defects()
    assert isinstance(missing, MissingServiceError)


def test_a_failing_layer_fails_the_provided_effect_with_its_typed_error() -> None:
    ran: list[str] = []
    broken: Effect[Database, ConfigMissing] = fail(ConfigMissing("DATABASE_URL"))
    eff = sync(lambda: ran.append("body")).pipe(provide(Layer.effect(Database, broken)))

    assert run_sync_exit(eff) == Failure(Fail(ConfigMissing("DATABASE_URL")))
    assert ran == []


def test_layer_effect_with_a_wrong_implementation_is_a_defect_when_built() -> None:
    wrong = cast("Effect[Database]", succeed(MemoryAnalytics()))
    eff = list_users().pipe(provide(Layer.effect(Database, wrong)))

    ex = run_sync_exit(eff)

    assert isinstance(ex, Failure)
    [defect] = ex.cause.defects()
    assert isinstance(defect, TypeError)


def test_provide_data_first_and_method_forms() -> None:
    layer = Layer.succeed(Database, FakeDatabase(["ann"]))
    # These forms cannot subtract the service from R for mypy; the pipeable form can.
    data_first = cast("Effect[list[str], ConfigMissing]", provide(list_users(), layer))
    method = cast("Effect[list[str], ConfigMissing]", list_users().provide(layer))

    assert run_sync(data_first) == run_sync(method) == ["users: ann"]


def test_an_inner_provide_shadows_an_outer_one_only_inside_it() -> None:
    inner = list_users().pipe(provide(Layer.succeed(Database, FakeDatabase(["inner"]))))

    @gen
    def both() -> EffectGen[list[str], ConfigMissing, Database]:
        a = yield from inner
        b = yield from list_users()
        return a + b

    eff = both().pipe(provide(Layer.succeed(Database, FakeDatabase(["outer"]))))

    assert run_sync(eff) == ["users: inner", "users: outer"]


def test_a_missing_service_at_run_time_is_a_defect() -> None:
    # Only a cast can get an effect that still needs a service past the type checker.
    unprovided = cast("Effect[list[str], ConfigMissing]", list_users())

    ex = run_sync_exit(unprovided)
    assert isinstance(ex, Failure)
    assert isinstance(ex.cause, Die)
    assert isinstance(ex.cause.defect, MissingServiceError)
    assert "Database" in str(ex.cause.defect)
    with pytest.raises(MissingServiceError):
        run_sync(unprovided)


def test_with_services_wraps_a_handler_so_each_effect_is_provided() -> None:
    analytics = MemoryAnalytics()
    layer = Layer.merge(Layer.succeed(Database, FakeDatabase(["x", "y"])), Layer.succeed(Analytics, analytics))

    @gen
    def handler(prefix: str) -> EffectGen[str, ConfigMissing, Database | Analytics]:
        count = yield from report()
        return f"{prefix}{count}"

    ready = with_services(handler, layer)

    assert ready.__name__ == "handler"
    assert run_sync(ready("count=")) == "count=2"
    assert run_sync(ready("again=")) == "again=2"
    assert analytics.events == ["listed 2", "listed 2"]


def test_service_function_gives_the_implementation_in_scope() -> None:
    db = FakeDatabase([])
    eff = service(Database).pipe(provide(Layer.succeed(Database, db)))

    assert run_sync(eff) is db


def test_any_instance_of_a_subclass_implements_the_service() -> None:
    class LoudDatabase(FakeDatabase):
        def query(self, sql: str) -> Effect[list[str]]:
            return super().query(sql.upper())

    eff = list_users().pipe(provide(Layer.succeed(Database, LoudDatabase(["ann"]))))

    assert run_sync(eff) == ["USERS: ann"]
