"""Each run is one storage transaction: a failed run leaves state and alarm as they were."""

from __future__ import annotations

import pytest

from durable_effect.effect import catch_tag, run_promise, succeed
from durable_effect.task import TaskExecutionError

from .conftest import TaskRuntimeFactory
from .tasks import JOB, Add, AddThenFail, Job, JobState, Oops, Probe, Schedule, job_config

pytestmark = pytest.mark.anyio


async def test_a_failed_run_leaves_state_and_alarm_as_they_were(make_runtime: TaskRuntimeFactory) -> None:
    probe = Probe()
    rt = make_runtime(job_config(probe))
    job = rt.task(Job)
    await run_promise(job.send(JOB, Add(by=1)))

    # The handler saved and scheduled, then failed: the caller gets a TaskExecutionError with its error.
    err = await run_promise(job.send(JOB, AddThenFail(by=5)).pipe(catch_tag(TaskExecutionError, succeed)))
    assert isinstance(err, TaskExecutionError) and err.cause == Oops("failed after saving")
    assert await run_promise(job.get_state(JOB)) == JobState(count=1)
    await run_promise(job.send(JOB, Schedule()))
    assert probe.next_alarms == [None]
    assert await run_promise(rt.advance("1 hour")) == 0


async def test_a_defect_fails_with_task_execution_error_and_writes_nothing(make_runtime: TaskRuntimeFactory) -> None:
    rt = make_runtime(job_config(Probe()))
    job = rt.task(Job)
    await run_promise(job.send(JOB, Add(by=1)))
    err = await run_promise(job.send(JOB, AddThenFail(raise_=True)).pipe(catch_tag(TaskExecutionError, succeed)))
    assert isinstance(err, TaskExecutionError)
    assert "raised after saving" in err.message
    assert await run_promise(job.get_state(JOB)) == JobState(count=1)
