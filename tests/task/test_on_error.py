"""`on_error` starts from the stored state, and only its own writes commit."""

from __future__ import annotations

import pytest

from durable_effect.effect import catch_tag, run_promise, succeed
from durable_effect.task import TaskExecutionError

from .conftest import TaskRuntimeFactory
from .tasks import JOB, Add, AddThenFail, Job, JobState, Oops, Probe, Schedule, job_config

pytestmark = pytest.mark.anyio


async def test_on_error_gets_the_typed_error_and_starts_from_the_stored_state(
    make_runtime: TaskRuntimeFactory,
) -> None:
    probe = Probe()
    rt = make_runtime(job_config(probe, on_error="record"))
    job = rt.task(Job)
    await run_promise(job.send(JOB, Add(by=1)))
    await run_promise(job.send(JOB, AddThenFail(by=5)))  # handled: the caller sees success

    (err,) = probe.errors
    assert isinstance(err, Oops)
    # The handler's save (count=6) and its alarm are gone; on_error's save committed.
    assert await run_promise(job.get_state(JOB)) == JobState(count=1, notes=["recovered"])
    await run_promise(job.send(JOB, Schedule()))
    assert probe.next_alarms == [None]


async def test_on_error_gets_a_defect_too(make_runtime: TaskRuntimeFactory) -> None:
    probe = Probe()
    rt = make_runtime(job_config(probe, on_error="record"))
    await run_promise(rt.task(Job).send(JOB, Add(by=2)))
    await run_promise(rt.task(Job).send(JOB, AddThenFail(raise_=True)))
    (err,) = probe.errors
    assert isinstance(err, RuntimeError)
    assert await run_promise(rt.task(Job).get_state(JOB)) == JobState(count=2, notes=["recovered"])


async def test_an_on_error_that_fails_leaves_nothing_and_fails_the_caller(make_runtime: TaskRuntimeFactory) -> None:
    probe = Probe()
    rt = make_runtime(job_config(probe, on_error="fail"))
    await run_promise(rt.task(Job).send(JOB, Add(by=1)))
    err = await run_promise(rt.task(Job).send(JOB, AddThenFail()).pipe(catch_tag(TaskExecutionError, succeed)))
    assert isinstance(err, TaskExecutionError) and err.cause == Oops("on_error failed too")
    assert await run_promise(rt.task(Job).get_state(JOB)) == JobState(count=1)
