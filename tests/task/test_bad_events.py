"""An event is validated against the task's schema before any handler runs."""

from __future__ import annotations

import pytest

from durable_effect.effect import catch_tag, run_promise, succeed
from durable_effect.task import TaskValidationError

from .conftest import TaskRuntimeFactory
from .tasks import JOB, Add, Credit, Job, JobState, Probe, job_config

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    "event",
    [
        {"_tag": "Nope"},
        {"_tag": "Add", "by": "many"},
        {"by": 1},
        "Add",
        Credit(amount=1),  # a member of another task's schema
    ],
    ids=["unknown-tag", "bad-field", "no-tag", "not-an-object", "other-schema"],
)
async def test_a_bad_event_fails_with_validation_error_and_runs_nothing(
    make_runtime: TaskRuntimeFactory, event: object
) -> None:
    probe = Probe()
    rt = make_runtime(job_config(probe))
    await run_promise(rt.task(Job).send(JOB, Add(by=1)))
    send = rt.task("job").send(JOB, event)  # type: ignore[arg-type]  # a bad event on purpose
    err = await run_promise(send.pipe(catch_tag(TaskValidationError, succeed)))
    assert isinstance(err, TaskValidationError)
    assert probe.failures_seen == [None]  # only the first event's handler ran
    assert await run_promise(rt.task(Job).get_state(JOB)) == JobState(count=1)
