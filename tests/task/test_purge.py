"""`purge` deletes state, storage and alarm, and bypasses `on_error`."""

from __future__ import annotations

import pytest

from durable_effect.effect import run_promise

from .conftest import TaskRuntimeFactory
from .tasks import JOB, Add, AddThenPurge, Job, JobState, Probe, Remember, Schedule, job_config

pytestmark = pytest.mark.anyio


async def test_purge_deletes_everything_and_bypasses_on_error(make_runtime: TaskRuntimeFactory) -> None:
    probe = Probe()
    rt = make_runtime(job_config(probe, on_error="record"))
    job = rt.task(Job)
    await run_promise(job.send(JOB, Add(by=3)))
    await run_promise(job.send(JOB, Remember(key="k", value="v")))
    await run_promise(job.send(JOB, Schedule(in_ms=1_000)))

    await run_promise(job.send(JOB, AddThenPurge()))  # succeeds for the caller
    assert probe.errors == []
    assert await run_promise(job.get_state(JOB)) is None
    assert await run_promise(rt.advance("1 hour")) == 0  # the alarm went too

    # The instance starts fresh: the Storage key is gone as well.
    await run_promise(job.send(JOB, Remember(key="other", value="x")))
    await run_promise(job.send(JOB, Add(by=1)))
    assert await run_promise(job.get_state(JOB)) == JobState(count=1)


async def test_purge_from_an_alarm(make_runtime: TaskRuntimeFactory) -> None:
    probe = Probe(purge_in_alarm=True)
    rt = make_runtime(job_config(probe))
    await run_promise(rt.task(Job).send(JOB, Add(by=1)))
    await run_promise(rt.task(Job).send(JOB, Schedule(in_ms=500)))
    assert await run_promise(rt.advance("1 second")) == 1
    assert await run_promise(rt.task(Job).get_state(JOB)) is None
    assert await run_promise(rt.advance("1 hour")) == 0
