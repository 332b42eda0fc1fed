"""The result of running an effect: `Success` with a value or `Failure` with a cause."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic

from typing_extensions import TypeAliasType, TypeVar

from durable_effect.effect.cause import Cause

A = TypeVar("A", covariant=True)
E = TypeVar("E", covariant=True, default=object)

__all__ = ["Exit", "Failure", "Success"]


@dataclass(frozen=True, slots=True)
class Success(Generic[A]):
    """The effect succeeded with `value`."""

    value: A

    def is_success(self) -> bool:
        return True


@dataclass(frozen=True, slots=True)
class Failure(Generic[E]):
    """The effect failed; `cause` says why (typed failure, defect, interruption)."""

    cause: Cause[E]

    def is_success(self) -> bool:
        return False


Exit = TypeAliasType("Exit", "Success[A] | Failure[E]", type_params=(A, E))
