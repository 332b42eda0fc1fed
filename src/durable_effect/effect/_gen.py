"""The `EffectGen[A, E, R]` annotation for `@gen` generator functions."""

from collections.abc import Generator
from typing import Never

from typing_extensions import TypeAliasType, TypeVar

from durable_effect.effect._core import Effect

A = TypeVar("A")
E = TypeVar("E", default=Never)
R = TypeVar("R", default=Never)

EffectGen = TypeAliasType("EffectGen", Generator[Effect[object, E, R], object, A], type_params=(A, E, R))
"""The return annotation of a `@gen` function: returns `A`, may fail with
`E`, needs `R`. mypy checks every `yield from` against `E` and `R`."""
