"""The `Random` service: random numbers, shuffles and UUIDs, seedable in tests.

`Random` is a default service like `Clock`: every runtime has one seeded from
the operating system, so `Random.next()` and the rest need nothing in `R`.
Provide `Layer.succeed(Random, Random(seed=42))` to make a test reproducible.
"""

from __future__ import annotations

import random as _random
import uuid
from collections.abc import Iterable, Mapping
from typing import TypeVar

from durable_effect.effect._core import SERVICES, Effect
from durable_effect.effect.layer import Service

T = TypeVar("T")

__all__ = ["Random"]


class Random(Service):
    """A source of randomness: `Random(seed=1)` is reproducible, `Random()` is not.

    The static methods are effects that use the `Random` in scope:
    `n = yield from Random.next_int_between(1, 7)`.
    """

    __slots__ = ("rng",)

    def __init__(self, seed: int | str | bytes | None = None) -> None:
        self.rng = _random.Random(seed)
        """The `random.Random` this service draws from."""

    @staticmethod
    def next() -> Effect[float]:
        """A float in [0, 1)."""
        return SERVICES.map(lambda s: current(s).rng.random())

    @staticmethod
    def next_int_between(low: int, high: int) -> Effect[int]:
        """An integer in [low, high) (`high` excluded, as in Effect-TS)."""
        if high <= low:
            raise ValueError(f"next_int_between needs low < high, got {low}, {high}")
        return SERVICES.map(lambda s: current(s).rng.randrange(low, high))

    @staticmethod
    def shuffle(items: Iterable[T]) -> Effect[list[T]]:
        """The items in a random order (a new list)."""

        def run(services: Mapping[type, object]) -> list[T]:
            out = list(items)
            current(services).rng.shuffle(out)
            return out

        return SERVICES.map(run)

    @staticmethod
    def uuid4() -> Effect[uuid.UUID]:
        """A version 4 UUID made from this service's bits."""
        return SERVICES.map(lambda s: current(s).make_uuid4())

    def make_uuid4(self) -> uuid.UUID:
        """A version 4 UUID from this generator, outside an effect."""
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)


_DEFAULT = Random()


def current(services: Mapping[type, object]) -> Random:
    """The `Random` in `services`, else the process-wide default one."""
    rnd = services.get(Random)
    return rnd if isinstance(rnd, Random) else _DEFAULT
