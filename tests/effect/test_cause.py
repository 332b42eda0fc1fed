"""`Cause`: why an effect failed, and the helpers that read it."""

from __future__ import annotations

from durable_effect.effect import (
    Cause,
    Die,
    Fail,
    Failure,
    Interrupt,
    Sequential,
    TaggedError,
    die,
    ensuring,
    fail,
    run_sync_exit,
    sync,
)
from durable_effect.effect.cause import FailureValue, InterruptedError_


class NotFound(TaggedError):
    id: str


class Forbidden(TaggedError):
    user: str


def _explode_in_cleanup() -> None:
    raise OSError("disk full")


def test_a_finalizer_failing_after_a_failure_gives_a_sequential_cause() -> None:
    ex = run_sync_exit(fail(NotFound("a")).pipe(ensuring(sync(_explode_in_cleanup))))

    assert isinstance(ex, Failure)
    cause = ex.cause
    assert isinstance(cause, Sequential)
    assert cause.left == Fail(NotFound("a"))
    assert isinstance(cause.right, Die)
    assert isinstance(cause.right.defect, OSError)


def test_failures_and_defects_list_the_reasons_in_order() -> None:
    first, second = RuntimeError("first"), RuntimeError("second")
    cause: Cause[NotFound | Forbidden] = Sequential(
        Sequential(Fail(NotFound("a")), Die(first)),
        Sequential(Interrupt(), Sequential(Fail(Forbidden("eve")), Die(second))),
    )

    assert cause.failures() == [NotFound("a"), Forbidden("eve")]
    assert cause.defects() == [first, second]
    assert cause.is_interrupted()
    assert not cause.is_interrupted_only()


def test_single_causes_report_only_themselves() -> None:
    boom = RuntimeError("boom")

    assert Fail(NotFound("a")).failures() == [NotFound("a")]
    assert Fail(NotFound("a")).defects() == []
    assert Die(boom).defects() == [boom]
    assert Die(boom).failures() == []
    assert not Die(boom).is_interrupted()
    assert Interrupt().is_interrupted_only()
    assert Sequential(Interrupt(), Interrupt()).is_interrupted_only()


def test_squash_prefers_the_first_typed_failure_then_the_first_defect() -> None:
    boom = RuntimeError("boom")
    err = NotFound("a")

    assert Sequential(Die(boom), Fail(err)).squash() is err
    assert Sequential(Interrupt(), Die(boom)).squash() is boom
    assert isinstance(Interrupt().squash(), InterruptedError_)


def test_squash_wraps_a_typed_failure_that_is_not_an_exception() -> None:
    squashed = Fail("plain").squash()

    assert isinstance(squashed, FailureValue)
    assert squashed.error == "plain"


def test_pretty_renders_each_reason_with_defect_tracebacks() -> None:
    ex = run_sync_exit(fail(NotFound("a")).pipe(ensuring(sync(_explode_in_cleanup))))
    assert isinstance(ex, Failure)

    text = ex.cause.pretty()

    lines = text.splitlines()
    assert lines[0] == "Fail: NotFound(id='a')"
    assert lines[1].startswith("Die: Traceback")
    assert "_explode_in_cleanup" in text
    assert lines[-1] == "OSError: disk full"
    assert Interrupt().pretty() == "Interrupt"


def test_a_defect_keeps_its_traceback_in_the_cause() -> None:
    def explode() -> int:
        raise ValueError("bad")

    ex = run_sync_exit(sync(explode))
    assert isinstance(ex, Failure)

    [defect] = ex.cause.defects()
    assert defect.__traceback__ is not None
    assert "explode" in ex.cause.pretty()


def test_causes_compare_by_value() -> None:
    boom = RuntimeError("boom")

    assert Fail(NotFound("a")) == Fail(NotFound("a"))
    assert Die(boom) == Die(boom)
    assert Interrupt() == Interrupt()
    assert Sequential(Fail(1), Interrupt()) == Sequential(Fail(1), Interrupt())
    assert run_sync_exit(die(boom)) == Failure(Die(boom))
