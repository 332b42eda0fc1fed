"""The instance lock: one holder, first come first served, cancellation-safe."""

from __future__ import annotations

import asyncio

import anyio
import pytest

from durable_effect.platform.lock import RunLock


@pytest.mark.anyio
async def test_holders_take_turns_in_arrival_order() -> None:
    lock = RunLock()
    order: list[int] = []
    inside = 0

    async def worker(i: int) -> None:
        nonlocal inside
        async with lock:
            inside += 1
            assert inside == 1, "two holders at once"
            order.append(i)
            await anyio.sleep(0)
            await anyio.sleep(0)
            inside -= 1

    async with anyio.create_task_group() as tg:
        async with lock:  # everyone queues behind the first holder
            for i in range(5):
                tg.start_soon(worker, i)
                await anyio.wait_all_tasks_blocked()
            assert order == []
    assert order == [0, 1, 2, 3, 4]
    assert not lock.locked()


@pytest.mark.anyio
async def test_uncontended_acquire_does_not_wait() -> None:
    lock = RunLock()
    with anyio.CancelScope() as scope:
        scope.cancel()
        # No checkpoint on the free lock: a cancelled scope does not stop the acquire.
        async with lock:
            assert lock.locked()
    assert not lock.locked()


@pytest.mark.anyio
async def test_a_waiter_cancelled_before_its_turn_leaves_the_queue() -> None:
    lock = RunLock()
    got: list[str] = []

    async def waiter(name: str, scope: anyio.CancelScope | None = None) -> None:
        if scope is None:
            async with lock:
                got.append(name)
            return
        with scope:
            async with lock:
                got.append(name)

    async with anyio.create_task_group() as tg:
        await lock.acquire()
        cancelled = anyio.CancelScope()
        tg.start_soon(waiter, "cancelled", cancelled)
        await anyio.wait_all_tasks_blocked()
        tg.start_soon(waiter, "next")
        await anyio.wait_all_tasks_blocked()
        cancelled.cancel()
        await anyio.wait_all_tasks_blocked()
        lock.release()
    assert got == ["next"]
    assert not lock.locked()


@pytest.mark.anyio
async def test_a_waiter_cancelled_as_the_lock_is_handed_to_it_does_not_keep_it() -> None:
    lock = RunLock()
    got: list[str] = []
    first_scope = anyio.CancelScope()

    async def first() -> None:
        with first_scope:
            async with lock:
                got.append("first")

    async def second() -> None:
        async with lock:
            got.append("second")

    async with anyio.create_task_group() as tg:
        await lock.acquire()
        tg.start_soon(first)
        await anyio.wait_all_tasks_blocked()
        tg.start_soon(second)
        await anyio.wait_all_tasks_blocked()
        # Hand the lock to `first` and cancel it before it runs again: whether
        # the cancellation or the lock reaches it first, `second` gets its turn.
        lock.release()
        first_scope.cancel()
    assert got in (["second"], ["first", "second"])
    assert not lock.locked()


def test_release_of_a_free_lock_is_an_error() -> None:
    with pytest.raises(RuntimeError):
        RunLock().release()


def test_a_task_cancelled_after_the_hand_over_passes_the_lock_on() -> None:
    # asyncio delivers a cancel to a task whose wait has already ended.
    asyncio.run(_cancel_after_hand_over())


async def _cancel_after_hand_over() -> None:
    lock = RunLock()
    got: list[str] = []

    async def take(name: str) -> None:
        async with lock:
            got.append(name)

    await lock.acquire()
    first = asyncio.ensure_future(take("first"))
    second = asyncio.ensure_future(take("second"))
    await asyncio.sleep(0)
    lock.release()  # the lock is now first's, but first has not run yet
    first.cancel()
    await asyncio.gather(first, second, return_exceptions=True)
    assert first.cancelled()
    assert got == ["second"]
    assert not lock.locked()
