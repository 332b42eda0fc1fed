"""The `Random` service: a default one in every runtime, seedable in tests."""

from __future__ import annotations

import uuid
from typing import TypeVar

import pytest

from durable_effect.effect import Effect, EffectGen, Layer, Random, gen, provide, run_promise, run_sync

T = TypeVar("T")


@gen
def draw() -> EffectGen[tuple[float, int, list[str], uuid.UUID]]:
    x = yield from Random.next()
    n = yield from Random.next_int_between(1, 7)
    order = yield from Random.shuffle(["a", "b", "c", "d"])
    u = yield from Random.uuid4()
    return x, n, order, u


def seeded(eff: Effect[T], seed: int) -> T:
    return run_sync(provide(eff, Layer.succeed(Random, Random(seed=seed))))


def test_a_seeded_random_gives_the_same_values_every_run() -> None:
    assert seeded(draw(), 42) == seeded(draw(), 42)
    assert seeded(draw(), 42) != seeded(draw(), 43)


def test_values_are_in_range_and_uuids_are_version_4() -> None:
    for seed in range(50):
        x, n, order, u = seeded(draw(), seed)
        assert 0.0 <= x < 1.0
        assert 1 <= n < 7
        assert sorted(order) == ["a", "b", "c", "d"]
        assert u.version == 4 and u.variant == uuid.RFC_4122


def test_the_default_random_needs_nothing_in_r() -> None:
    values = {run_sync(Random.next_int_between(0, 1_000_000)) for _ in range(20)}
    assert len(values) > 1
    assert isinstance(run_sync(Random.uuid4()), uuid.UUID)


def test_shuffle_reads_the_items_when_it_runs_and_leaves_them_alone() -> None:
    items = [1, 2, 3]
    eff = Random.shuffle(items)
    items.append(4)
    assert sorted(seeded(eff, 1)) == [1, 2, 3, 4]
    assert items == [1, 2, 3, 4]


def test_next_int_between_rejects_an_empty_range() -> None:
    with pytest.raises(ValueError):
        Random.next_int_between(3, 3)


@pytest.mark.anyio
async def test_random_works_under_both_backends() -> None:
    first = await run_promise(provide(draw(), Layer.succeed(Random, Random(seed=5))))
    assert first == seeded(draw(), 5)
