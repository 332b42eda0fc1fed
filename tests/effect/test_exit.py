"""`Exit`: the outcome of running an effect."""

from __future__ import annotations

from durable_effect.effect import Exit, Fail, Failure, Success, TaggedError, fail, run_sync_exit, succeed


class NotFound(TaggedError):
    id: str


def describe(ex: Exit[int, object]) -> str:
    if isinstance(ex, Success):
        return f"got {ex.value}"
    return f"failed with {ex.cause.failures()}"


def test_an_exit_is_a_success_or_a_failure() -> None:
    ok = run_sync_exit(succeed(1))
    bad = run_sync_exit(fail(NotFound("a")))

    assert ok.is_success()
    assert not bad.is_success()
    assert describe(ok) == "got 1"
    assert describe(bad) == "failed with [NotFound(id='a')]"
    assert bad == Failure(Fail(NotFound("a")))
