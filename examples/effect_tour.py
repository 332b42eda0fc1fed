"""A runnable tour of `durable_effect.effect`: every example of docs/effect.md.

Run it with `python examples/effect_tour.py`. The test
tests/examples/test_effect_tour.py runs `main()` and checks that every code
block of docs/effect.md appears in this file word for word.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta
from typing import Never

import anyio
import trio
from pydantic import BaseModel
from returns.maybe import Nothing, Some
from returns.result import Result

from durable_effect.effect import (
    AsyncEffectInSyncRun,
    Clock,
    Config,
    ConfigError,
    ConfigProvider,
    Die,
    Duration,
    Effect,
    EffectGen,
    Fail,
    Failure,
    Layer,
    Random,
    Schedule,
    Scope,
    Secret,
    Service,
    Success,
    TaggedError,
    TestClock,
    TimeoutException,
    acquire_release,
    annotate_logs,
    as_void,
    catch_all,
    catch_tag,
    current_time_millis,
    delay,
    die,
    either,
    ensuring,
    fail,
    filter_or_fail,
    flatten,
    fn,
    for_each,
    gen,
    interrupt,
    log,
    match,
    never,
    option,
    or_die,
    or_else,
    pipe,
    promise,
    provide,
    race,
    run_promise,
    run_sync,
    run_sync_exit,
    scoped,
    sleep,
    succeed,
    suspend,
    sync,
    timeout,
    timeout_fail,
    timeout_to,
    try_,
    try_promise,
    void,
    when,
    with_log_span,
    with_services,
    zip_with,
)
from durable_effect.sockets import (
    BroadcastError,
    ConnectionInit,
    RoomCtx,
    Schema,
    SocketRegistry,
    TaggedStruct,
    UpgradeOpts,
    WebSocketRoom,
    make_in_memory_socket_runtime,
)

# -- effects are lazy values ---------------------------------------------------------

answer: Effect[int] = succeed(42)
sentence: Effect[str] = answer.map(lambda n: f"the answer is {n}")


def effects_are_lazy() -> None:
    calls: list[str] = []
    record: Effect[None] = sync(lambda: calls.append("ran"))
    assert calls == []  # building an effect runs nothing
    run_sync(record)
    run_sync(record)  # an effect is a recipe: each run runs it again
    assert calls == ["ran", "ran"]
    assert run_sync(sentence) == "the answer is 42"


# -- constructors --------------------------------------------------------------------


class ParseError(TaggedError):
    text: str


def parse(text: str) -> Effect[int, ParseError]:
    # try_ turns the exception int() raises into a typed error
    return try_(lambda: int(text), lambda _: ParseError(text))


async def fetch_name() -> str:
    await anyio.sleep(0)
    return "Ada"


name_from_io: Effect[str] = promise(fetch_name)  # an exception it raises is a defect
name_or_error: Effect[str, ParseError] = try_promise(fetch_name, lambda _: ParseError("name"))
not_a_number: Effect[Never, ParseError] = fail(ParseError("x"))
bug: Effect[Never] = die(RuntimeError("bug"))  # a defect: not part of E
started: Effect[float] = suspend(lambda: succeed(time.monotonic()))  # built again on each run
done: Effect[None] = void


def constructors() -> None:
    assert run_sync(parse("7")) == 7
    assert run_sync(parse("seven").either()).failure() == ParseError("seven")
    assert run_sync(not_a_number.either()).failure() == ParseError("x")
    assert run_sync(started) <= run_sync(started)
    assert run_sync(done) is None


# -- generators ----------------------------------------------------------------------


class DivisionByZero(TaggedError):
    pass


@gen
def divide(a: str, b: str) -> EffectGen[float, ParseError | DivisionByZero]:
    x = yield from parse(a)
    y = yield from parse(b)
    if y == 0:
        return (yield from DivisionByZero())  # a TaggedError is yieldable: it fails the effect
    return x / y


def generators() -> None:
    assert run_sync(divide("6", "3")) == 2.0
    try:
        run_sync(divide("1", "0"))
    except DivisionByZero as err:  # run_sync raises the typed error itself
        assert err._tag == "DivisionByZero"
    else:
        raise AssertionError("divide('1', '0') should fail")


# -- typed errors --------------------------------------------------------------------


infinite: Effect[float, ParseError] = divide("1", "0").pipe(
    catch_tag(DivisionByZero, lambda _: succeed(float("inf")))
)


def zero(_: ParseError | DivisionByZero) -> Effect[float]:
    return succeed(0.0)


zero_on_error: Effect[float] = divide("x", "1").pipe(catch_all(zero))
as_result: Effect[Result[float, ParseError | DivisionByZero]] = divide("1", "0").pipe(either)
as_text: Effect[float, str] = divide("x", "1").map_error(lambda err: err._tag)  # methods take lambdas
or_defect: Effect[float] = divide("1", "0").pipe(or_die)


def typed_errors() -> None:
    assert run_sync(infinite) == float("inf")
    assert run_sync(zero_on_error) == 0.0
    assert run_sync(as_result).failure() == DivisionByZero()
    assert run_sync(divide("6", "3").pipe(either)).unwrap() == 2.0
    assert run_sync(as_text.either()).failure() == "ParseError"
    crashed = run_sync_exit(or_defect)
    assert isinstance(crashed, Failure) and crashed.cause.defects() == [DivisionByZero()]


# -- services and layers ---------------------------------------------------------------


class Greeter(Service):
    def greet(self, name: str) -> Effect[str]:
        raise NotImplementedError  # not @abstractmethod: mypy refuses an abstract class as a tag


class Audit(Service):
    def record(self, event: str) -> Effect[None]:
        raise NotImplementedError


class EnglishGreeter(Greeter):
    def greet(self, name: str) -> Effect[str]:
        return succeed(f"Hello, {name}!")


class MemoryAudit(Audit):
    def __init__(self) -> None:
        self.events: list[str] = []

    def record(self, event: str) -> Effect[None]:
        return sync(lambda: self.events.append(event))


@gen
def welcome(name: str) -> EffectGen[str, Never, Greeter | Audit]:
    greeter = yield from Greeter  # the implementation in scope; adds Greeter to R
    audit = yield from Audit
    text = yield from greeter.greet(name)
    yield from audit.record(f"welcomed {name}")
    return text


def services() -> None:
    audit = MemoryAudit()
    app: Layer[Greeter | Audit] = Layer.merge(
        Layer.succeed(Greeter, EnglishGreeter()),
        Layer.succeed(Audit, audit),
    )
    ready: Effect[str] = welcome("Ada").pipe(provide(app))  # R is now Never: it can run
    assert run_sync(ready) == "Hello, Ada!"

    handler = with_services(welcome, app)  # every effect it returns is provided
    assert run_sync(handler("Grace")) == "Hello, Grace!"
    assert audit.events == ["welcomed Ada", "welcomed Grace"]


@gen
def make_greeter() -> EffectGen[Greeter]:
    yield from log("building the greeter")  # runs when the layer is built, not before
    return EnglishGreeter()


greeter_layer: Layer[Greeter] = Layer.effect(Greeter, make_greeter())
audit_layer: Layer[Audit] = Layer.sync(Audit, MemoryAudit)  # calls MemoryAudit() when built


def layers() -> None:
    app = Layer.merge(greeter_layer, audit_layer)
    assert run_sync(welcome("Lin").pipe(provide(app))) == "Hello, Lin!"


# -- time --------------------------------------------------------------------------------


@gen
def reminder() -> EffectGen[float]:
    yield from sleep("5 minutes")
    return (yield from current_time_millis())


async def fast_forward() -> float:
    clock = TestClock()
    on_test_clock = reminder().pipe(provide(Layer.succeed(Clock, clock)))
    woke: list[float] = []

    async def run_reminder() -> None:
        woke.append(await run_promise(on_test_clock))

    async with anyio.create_task_group() as tg:
        tg.start_soon(run_reminder)
        await anyio.wait_all_tasks_blocked()  # the reminder is asleep
        await run_promise(clock.adjust("5 minutes"))  # ...and wakes, instantly
    return woke[0]


def durations() -> None:
    assert Duration.decode("5 minutes").millis == 300_000
    assert Duration.decode(timedelta(seconds=2)) == Duration.seconds(2)
    assert Duration.decode(250).millis == 250  # a number is milliseconds


too_slow: Effect[None, TimeoutException] = sleep("1 minute").pipe(timeout("10 millis"))


async def timing() -> None:
    assert await fast_forward() == 300_000.0
    assert (await run_promise(too_slow.pipe(either))).failure() == TimeoutException(10.0)


# -- exits and causes ----------------------------------------------------------------------


def exits() -> None:
    match run_sync_exit(divide("1", "0")):
        case Success(value):
            raise AssertionError(f"unexpected {value}")
        case Failure(cause):
            assert cause.failures() == [DivisionByZero()]

    crashed = run_sync_exit(sync(lambda: 1 // 0))
    assert isinstance(crashed, Failure) and isinstance(crashed.cause, Die)
    assert isinstance(crashed.cause.defect, ZeroDivisionError)  # keeps its traceback

    stopped = run_sync_exit(interrupt())
    assert isinstance(stopped, Failure) and stopped.cause.is_interrupted()

    cleaned: list[str] = []
    guarded = divide("1", "0").pipe(ensuring(sync(lambda: cleaned.append("closed"))))
    assert isinstance(run_sync_exit(guarded), Failure) and cleaned == ["closed"]


# -- runtimes ----------------------------------------------------------------------------------


async def handle(name: str) -> str:
    audit = MemoryAudit()
    layer = Layer.merge(Layer.succeed(Greeter, EnglishGreeter()), Layer.succeed(Audit, audit))
    return await run_promise(welcome(name).pipe(provide(layer)))


def runtimes() -> None:
    assert asyncio.run(handle("Ada")) == "Hello, Ada!"
    assert trio.run(handle, "Ada") == "Hello, Ada!"
    assert anyio.run(run_promise, name_from_io, backend="trio") == "Ada"
    assert anyio.run(run_promise, name_or_error) == "Ada"
    try:
        run_sync(name_from_io)  # it awaits, so only run_promise can run it
    except AsyncEffectInSyncRun:
        pass
    else:
        raise AssertionError("run_sync should refuse an effect that waits")
    try:
        run_sync(bug)
    except RuntimeError as err:  # a defect is re-raised as the original exception
        assert str(err) == "bug"
    else:
        raise AssertionError("run_sync should re-raise the defect")


# -- three styles ------------------------------------------------------------------------------


def to_inf(_: DivisionByZero) -> Effect[float]:
    return succeed(float("inf"))


data_first: Effect[float, ParseError | DivisionByZero] = catch_tag(divide("1", "0"), DivisionByZero, to_inf)
pipeable: Effect[float, ParseError] = divide("1", "0").pipe(catch_tag(DivisionByZero, to_inf))
piped: Effect[float, ParseError] = pipe(divide("1", "0"), catch_tag(DivisionByZero, to_inf))
method: Effect[float, ParseError | DivisionByZero] = divide("1", "0").catch_tag(DivisionByZero, to_inf)


def styles() -> None:
    for eff in (data_first, pipeable, piped, method):
        assert run_sync(eff) == float("inf")


# -- schedules, retry and repeat ---------------------------------------------------------

policy = Schedule.exponential("100 millis").intersect(Schedule.recurs(4))  # 100, 200, 400, 800 ms
patient = Schedule.spaced("1 second").up_to("10 seconds").jittered()  # each wait 0.8-1.2 s, 10 s at most
either_way = Schedule.recurs(2).union(Schedule.spaced("5 seconds"))  # goes on while either does


def schedules() -> None:
    assert policy.delays() == [100.0, 200.0, 400.0, 800.0]
    assert Schedule.fibonacci("10 millis").delays(inputs=5) == [10.0, 10.0, 20.0, 30.0, 50.0]
    assert Schedule.spaced(50).and_then(Schedule.recurs(1)).while_output(lambda n: n < 2).delays() == [50.0, 50.0]

class Unreachable(TaggedError):
    attempt: int


def flaky_call(attempts: list[float]) -> Effect[str, Unreachable | ParseError]:
    def attempt(now: float) -> Effect[str, Unreachable | ParseError]:
        attempts.append(now)
        return fail(Unreachable(len(attempts))) if len(attempts) < 3 else succeed("pong")

    return current_time_millis().flat_map(attempt)


async def retrying() -> None:
    clock, attempts = TestClock(), list[float]()
    ping = flaky_call(attempts).retry(policy, while_=lambda e: isinstance(e, Unreachable))
    outcome: list[str] = []

    async def run_ping() -> None:
        outcome.append(await run_promise(ping.pipe(provide(Layer.succeed(Clock, clock)))))

    async with anyio.create_task_group() as tg:
        tg.start_soon(run_ping)
        await anyio.wait_all_tasks_blocked()
        await run_promise(clock.adjust("1 minute"))  # wakes each retry in turn: no real waiting
    assert outcome == ["pong"] and attempts == [0.0, 100.0, 300.0]

    give_up = flaky_call([]).retry_or_else(Schedule.recurs(1), lambda error, retries: succeed(f"gave up: {error}"))
    assert run_sync(give_up) == "gave up: Unreachable(attempt=2)"
    runs: list[str] = []
    assert run_sync(sync(lambda: runs.append("tick")).repeat(times=2)) is None and len(runs) == 3

# -- more combinators ----------------------------------------------------------------------

def lookup(key: str) -> Effect[int, ParseError]:
    return parse(key) if key.isdigit() else fail(ParseError(key))


def combinators() -> None:
    assert run_sync(lookup("x").pipe(or_else(lambda: succeed(0)))) == 0
    assert run_sync(option(lookup("x"))) == Nothing and run_sync(option(lookup("7"))) == Some(7)
    assert run_sync(for_each(["1", "2"], lookup)) == [1, 2]  # concurrency=... runs them at once
    assert run_sync(when(lookup("3"), lambda: False)) == Nothing
    shown = match(lookup("x"), on_failure=lambda e: f"bad: {e.text}", on_success=lambda n: f"ok: {n}")
    assert run_sync(shown) == "bad: x"
    assert run_sync(zip_with(lookup("2"), lookup("3"), lambda a, b: a * b)) == 6
    small = filter_or_fail(lookup("5"), lambda n: n < 3, lambda n: ParseError(f"{n} is too big"))
    assert run_sync(either(small)).failure() == ParseError("5 is too big")
    assert run_sync(flatten(succeed(lookup("4")))) == 4 and run_sync(as_void(lookup("4"))) is None


async def racing() -> None:
    fast, slow = sleep("10 millis").as_("fast"), never.as_("slow")
    assert await run_promise(race(slow, fast)) == "fast"  # the loser is interrupted; its finalizers run
    late = timeout_fail(never, "10 millis", on_timeout=lambda: ParseError("too slow"))
    assert (await run_promise(either(late))).failure() == ParseError("too slow")
    assert await run_promise(timeout_to(never, "10 millis", on_timeout=lambda: "late", on_success=str)) == "late"
    assert await run_promise(delay(succeed("later"), "1 millis")) == "later"

# -- log annotations and spans --------------------------------------------------------------

@gen
def checkout(cart: str) -> EffectGen[None]:
    yield from log("checking out")  # logged as "checking out checkout=0ms cart=c-42"
    yield from log("paid")  # each line: the message, the spans (ms since each began), the annotations


traced = checkout("c-42").pipe(with_log_span("checkout"), annotate_logs("cart", "c-42"))


@fn("place_order")  # @gen with a span named after the function's job
def place_order(item: str) -> EffectGen[str]:
    yield from log("placing", item)  # "placing tea place_order=0ms"
    return item

# -- scoped resources -------------------------------------------------------------------------

class HttpPool:
    """Stands for a real client pool (an httpx.AsyncClient, an asyncpg pool, ...)."""

    def __init__(self, size: int) -> None:
        self.size, self.open = size, True

    def close(self) -> None:
        self.open = False


class Inventory(Service):
    def __init__(self, pool: HttpPool) -> None:
        self.pool = pool

    def reserve(self, item: str) -> Effect[None]:
        return sync(lambda: None) if self.pool.open else die(RuntimeError("the pool is closed"))


@gen
def open_inventory() -> EffectGen[Inventory, ConfigError, Scope]:
    size = yield from Config.int("POOL_SIZE").nested("INVENTORY").with_default(4)
    pool = yield from acquire_release(sync(lambda: HttpPool(size)), lambda pool, _: sync(pool.close))
    return Inventory(pool)


InventoryLive: Layer[Inventory, ConfigError] = Layer.scoped(Inventory, open_inventory())  # Scope is gone from R


def resources() -> None:
    pools: list[HttpPool] = []

    @gen
    def use_two() -> EffectGen[int, Never, Scope]:
        first = yield from acquire_release(sync(lambda: HttpPool(1)), lambda pool, _: sync(pool.close))
        second = yield from acquire_release(sync(lambda: HttpPool(2)), lambda pool, _: sync(pool.close))
        pools.extend([first, second])
        return first.size + second.size

    assert run_sync(scoped(use_two())) == 3  # released after it ends, last acquired first
    assert [pool.open for pool in pools] == [False, False]

# -- config -----------------------------------------------------------------------------------

@gen
def webhook_settings() -> EffectGen[tuple[str, Secret, Duration], ConfigError]:
    url = yield from Config.string("WEBHOOK_URL").nested("SHOP")  # reads SHOP_WEBHOOK_URL
    token = yield from Config.secret("WEBHOOK_TOKEN").nested("SHOP")  # repr shows Secret(<redacted>)
    wait = yield from Config.duration("WEBHOOK_TIMEOUT").nested("SHOP").with_default(Duration.seconds(5))
    return url, token, wait


def settings() -> None:
    env = ConfigProvider.from_mapping({"SHOP_WEBHOOK_URL": "https://hooks.example/orders", "SHOP_WEBHOOK_TOKEN": "t0k"})
    url, token, wait = run_sync(provide(webhook_settings(), Layer.succeed(ConfigProvider, env)))
    assert (url, token.value, wait) == ("https://hooks.example/orders", "t0k", Duration.seconds(5))
    missing = run_sync_exit(provide(webhook_settings(), Layer.succeed(ConfigProvider, ConfigProvider.from_mapping({}))))
    assert missing == Failure(Fail(ConfigError("SHOP_WEBHOOK_URL", "missing", "SHOP_WEBHOOK_URL is not set")))

# -- random -----------------------------------------------------------------------------------

@gen
def raffle(names: list[str]) -> EffectGen[tuple[str, int]]:
    order = yield from Random.shuffle(names)
    ticket = yield from Random.next_int_between(1, 100)
    return order[0], ticket


def randomness() -> None:
    seeded = Layer.sync(Random, lambda: Random(seed=42))  # a fresh generator, same seed, on each run
    assert run_sync(provide(raffle(["ada", "lin"]), seeded)) == run_sync(provide(raffle(["ada", "lin"]), seeded))
    assert isinstance(run_sync(Random.uuid4()), uuid.UUID)  # the default Random needs nothing in R

# -- in a room: retry a webhook, a scoped pool, settings, random ids -------------------------

class Orders(BaseModel):
    count: int = 0


class Shopper(BaseModel):
    name: str


class Place(TaggedStruct, tag="Place"):
    item: str


class Placed(TaggedStruct, tag="Placed"):
    order_id: str
    item: str


Shop = WebSocketRoom.make(
    "shop", state=Orders, connection=Shopper, event=Schema.union(Place), broadcast=Schema.union(Placed)
)
shop = SocketRegistry.make(Shop)

class WebhookDown(TaggedError):
    status: int


class Webhook(Service):
    def post(self, payload: dict[str, str]) -> Effect[None, WebhookDown]:
        raise NotImplementedError


webhook_policy = Schedule.exponential("200 millis").intersect(Schedule.recurs(4))


@shop.for_(Shop).on_event
@gen
def on_place(
    ctx: RoomCtx[Orders, Shopper, Place, Placed], event: Place
) -> EffectGen[None, WebhookDown | BroadcastError, Webhook | Inventory]:
    webhook = yield from Webhook
    inventory = yield from Inventory
    order_id = str((yield from Random.uuid4()))  # from the Random service: seeded in tests
    yield from inventory.reserve(event.item)
    yield from webhook.post({"order": order_id, "item": event.item}).retry(webhook_policy)
    yield from ctx.broadcast(Placed(order_id=order_id, item=event.item))

class FlakyWebhook(Webhook):
    """Answers 503 twice, then accepts; records when (on the Clock in scope) each call came."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def post(self, payload: dict[str, str]) -> Effect[None, WebhookDown]:
        def answer(now: float) -> Effect[None, WebhookDown]:
            self.calls.append(now)
            return fail(WebhookDown(503)) if len(self.calls) <= 2 else void

        return current_time_millis().flat_map(answer)


async def shop_story() -> None:
    hook = FlakyWebhook()
    rt = make_in_memory_socket_runtime(
        shop.build({"shop": shop.handler(Shop, on_event=on_place)}),
        services=Layer.merge(Layer.succeed(Webhook, hook), Layer.succeed(Random, Random(seed=7)), InventoryLive),
    )
    ada = await run_promise(rt.testing_connect(Shop, "s-1", UpgradeOpts(ConnectionInit(Shopper(name="ada")))))
    async with anyio.create_task_group() as tg:
        tg.start_soon(run_promise, ada.receive(Place(item="tea")))
        await anyio.wait_all_tasks_blocked()
        await run_promise(rt.clock.adjust("1 minute"))  # the handler's retries wait on the room's test clock
    assert [t - hook.calls[0] for t in hook.calls] == [0.0, 200.0, 600.0]
    assert [p.item for p in ada.received if isinstance(p, Placed)] == ["tea"]
    await run_promise(rt.close())  # the host stops: InventoryLive's pool is closed


# -- all of it -------------------------------------------------------------------------------


def main() -> None:
    effects_are_lazy()
    constructors()
    generators()
    typed_errors()
    services()
    layers()
    durations()
    anyio.run(timing)
    anyio.run(timing, backend="trio")
    exits()
    runtimes()
    styles()
    schedules()
    combinators()
    run_sync(traced)
    assert run_sync(place_order("tea")) == "tea"
    resources()
    settings()
    randomness()
    for backend in ("asyncio", "trio"):
        anyio.run(retrying, backend=backend)
        anyio.run(racing, backend=backend)
        anyio.run(shop_story, backend=backend)
    print("effect tour: every example ran")


if __name__ == "__main__":
    main()
