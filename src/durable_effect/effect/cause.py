"""Why an effect failed: a typed failure, a defect, or an interruption.

A `Cause` keeps every reason an effect stopped. `Fail` carries an error from
the typed `E` channel, `Die` an unexpected exception (with its traceback),
`Interrupt` a cancellation, and `Sequential` two causes that happened one
after the other (for example a failing finalizer after a failure).
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import Generic, Never

from typing_extensions import TypeVar

E = TypeVar("E", covariant=True, default=object)

__all__ = ["Cause", "Die", "Fail", "Interrupt", "InterruptedError_", "Sequential"]


class Cause(Generic[E]):
    """Base of the four kinds of cause."""

    __slots__ = ()

    def failures(self) -> list[E]:
        """The typed errors in this cause, in order."""
        return [c.error for c in _leaves(self) if isinstance(c, Fail)]

    def defects(self) -> list[BaseException]:
        """The unexpected exceptions in this cause, in order."""
        return [c.defect for c in _leaves(self) if isinstance(c, Die)]

    def is_interrupted(self) -> bool:
        """True when the cause holds an interruption."""
        return any(isinstance(c, Interrupt) for c in _leaves(self))

    def is_interrupted_only(self) -> bool:
        """True when every reason in the cause is an interruption."""
        return all(isinstance(c, Interrupt) for c in _leaves(self))

    def squash(self) -> BaseException:
        """The one exception that best stands for the cause.

        The first typed failure if there is one (when it is an exception),
        else the first defect, else an `InterruptedError_`.
        """
        for leaf in _leaves(self):
            if isinstance(leaf, Fail):
                err = leaf.error
                return err if isinstance(err, BaseException) else FailureValue(err)
        for leaf in _leaves(self):
            if isinstance(leaf, Die):
                return leaf.defect
        return InterruptedError_("the effect was interrupted")

    def pretty(self) -> str:
        """A readable, multi-line rendering, with tracebacks of defects."""
        parts: list[str] = []
        for leaf in _leaves(self):
            if isinstance(leaf, Fail):
                parts.append(f"Fail: {leaf.error!r}")
            elif isinstance(leaf, Die):
                tb = "".join(traceback.format_exception(leaf.defect)).rstrip()
                parts.append(f"Die: {tb}")
            else:
                parts.append("Interrupt")
        return "\n".join(parts)


@dataclass(frozen=True, slots=True)
class Fail(Cause[E]):
    """A typed failure: the value in the effect's error channel."""

    error: E


@dataclass(frozen=True, slots=True)
class Die(Cause[Never]):
    """A defect: an exception nobody declared. Keeps its traceback."""

    defect: BaseException


@dataclass(frozen=True, slots=True)
class Interrupt(Cause[Never]):
    """The effect was cancelled before it finished."""


@dataclass(frozen=True, slots=True)
class Sequential(Cause[E]):
    """Two causes, the second after the first (e.g. a failing finalizer)."""

    left: Cause[E]
    right: Cause[E]


class InterruptedError_(Exception):
    """Raised by `run_sync` / `run_promise` for an effect that was interrupted."""


class FailureValue(Exception):
    """Wraps a typed failure that is not itself an exception, to raise it."""

    def __init__(self, error: object) -> None:
        super().__init__(error)
        self.error = error


def _leaves(cause: Cause[E]) -> list[Cause[E]]:
    out: list[Cause[E]] = []
    todo: list[Cause[E]] = [cause]
    while todo:
        c = todo.pop()
        if isinstance(c, Sequential):
            todo.append(c.right)
            todo.append(c.left)
        else:
            out.append(c)
    return out
