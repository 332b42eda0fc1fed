"""Run an effect on a `TestClock` that the test moves forward."""

from __future__ import annotations

import anyio

from durable_effect.effect import Clock, Effect, Exit, Layer, TestClock, provide, run_promise, run_promise_exit


async def on_test_clock(eff: Effect[object, object, Clock], advance: str) -> Exit[object]:
    """Run `eff` with a TestClock, move the clock `advance` forward (one
    deadline at a time), and give the exit; fails if `eff` is still running."""
    clock = TestClock()
    out: list[Exit[object]] = []

    async def runner() -> None:
        out.append(await run_promise_exit(eff.pipe(provide(Layer.succeed(Clock, clock)))))

    async with anyio.create_task_group() as tg:
        tg.start_soon(runner)
        await anyio.wait_all_tasks_blocked()
        await run_promise(clock.adjust(advance))
        tg.cancel_scope.cancel()
    assert out, "the effect was still running after the clock moved"
    return out[0]
