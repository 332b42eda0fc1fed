"""The result of running an effect: `Success` with a value or `Failure` with a cause."""

from __future__ import annotations

from typing import Generic

from typing_extensions import TypeAliasType, TypeVar

from durable_effect.effect.cause import Cause

A = TypeVar("A", covariant=True)
E = TypeVar("E", covariant=True, default=object)

__all__ = ["Exit", "Failure", "Success"]


class Success(Generic[A]):
    """The effect succeeded with `value`. Immutable by convention; a plain
    slotted class because every run of an effect makes one."""

    __slots__ = ("value",)
    __match_args__ = ("value",)

    def __init__(self, value: A) -> None:
        self.value = value

    def is_success(self) -> bool:
        return True

    def __eq__(self, other: object) -> bool:
        return type(other) is Success and other.value == self.value

    def __hash__(self) -> int:
        return hash((Success, self.value))

    def __repr__(self) -> str:
        return f"Success(value={self.value!r})"


class Failure(Generic[E]):
    """The effect failed; `cause` says why (typed failure, defect, interruption)."""

    __slots__ = ("cause",)
    __match_args__ = ("cause",)

    def __init__(self, cause: Cause[E]) -> None:
        self.cause = cause

    def is_success(self) -> bool:
        return False

    def __eq__(self, other: object) -> bool:
        return type(other) is Failure and other.cause == self.cause

    def __hash__(self) -> int:
        return hash((Failure, self.cause))

    def __repr__(self) -> str:
        return f"Failure(cause={self.cause!r})"


Exit = TypeAliasType("Exit", "Success[A] | Failure[E]", type_params=(A, E))
