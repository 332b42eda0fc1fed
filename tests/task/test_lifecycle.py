"""One instance per (task, id), created by its first event; state survives hibernation."""

from __future__ import annotations

import pytest

from durable_effect.effect import catch_tag, run_promise, succeed
from durable_effect.platform.memory import START_MS
from durable_effect.task import TaskNotFoundError

from .conftest import TaskRuntimeFactory
from .tasks import JOB, Add, Job, JobState, Probe, Tally, TallyState, job_config

pytestmark = pytest.mark.anyio


async def test_state_is_none_until_the_first_save_then_accumulates(make_runtime: TaskRuntimeFactory) -> None:
    rt = make_runtime(job_config(Probe()))
    job = rt.task(Job)
    assert rt.clock.now_ms() == START_MS
    assert await run_promise(job.get_state(JOB)) is None
    await run_promise(job.send(JOB, Add(by=2)))
    await run_promise(job.send(JOB, Add(by=3)))
    assert await run_promise(job.get_state(JOB)) == JobState(count=5)


async def test_instances_are_per_task_and_id(make_runtime: TaskRuntimeFactory) -> None:
    rt = make_runtime(job_config(Probe()))
    await run_promise(rt.task(Job).send("a", Add(by=1)))
    await run_promise(rt.task(Job).send("b", Add(by=10)))
    assert await run_promise(rt.task(Job).get_state("a")) == JobState(count=1)
    assert await run_promise(rt.task(Job).get_state("b")) == JobState(count=10)
    assert await run_promise(rt.task(Tally).get_state("a")) is None


async def test_the_string_form_reaches_the_same_instance(make_runtime: TaskRuntimeFactory) -> None:
    rt = make_runtime(job_config(Probe()))
    await run_promise(rt.task("job").send(JOB, Add(by=4)))
    assert await run_promise(rt.task(Job).get_state(JOB)) == JobState(count=4)


async def test_an_unknown_task_fails_with_task_not_found(make_runtime: TaskRuntimeFactory) -> None:
    rt = make_runtime(job_config(Probe()))
    missing = rt.task("nope")
    err = await run_promise(missing.send(JOB, Add()).pipe(catch_tag(TaskNotFoundError, succeed)))
    assert isinstance(err, TaskNotFoundError) and err.name == "nope"
    err2 = await run_promise(missing.get_state(JOB).pipe(catch_tag(TaskNotFoundError, succeed)))
    assert isinstance(err2, TaskNotFoundError)


async def test_state_survives_hibernation(make_runtime: TaskRuntimeFactory) -> None:
    rt = make_runtime(job_config(Probe()))
    await run_promise(rt.task(Job).send(JOB, Add(by=7)))
    await run_promise(rt.hibernate(Job, JOB))
    assert await run_promise(rt.task(Job).get_state(JOB)) == JobState(count=7)
    await run_promise(rt.task(Job).send(JOB, Add(by=1)))
    assert await run_promise(rt.task(Job).get_state(JOB)) == JobState(count=8)
    assert await run_promise(rt.task(Tally).get_state(JOB)) in (None, TallyState())
