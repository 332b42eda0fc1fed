"""What only the in-memory task host offers: its pytest fixture, failed
commits on demand, and a look at an instance's storage and alarm."""

from __future__ import annotations

import json

import pytest

from durable_effect.effect import Effect, Exit, Layer, acquire_release, catch_tag, run_promise, succeed, sync
from durable_effect.platform.instance import IDENTITY_KEY, STATE_KEY
from durable_effect.platform.memory import START_MS
from durable_effect.task import TaskExecutionError
from durable_effect.task.testing import TaskRuntimeFactory

from .tasks import JOB, Add, Greeter, Job, JobState, Probe, Schedule, job_config

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_the_fixture_gives_fresh_runtimes(task_runtime: TaskRuntimeFactory) -> None:
    first, second = task_runtime(job_config(Probe())), task_runtime(job_config(Probe()))
    await run_promise(first.task(Job).send(JOB, Add(by=1)))
    assert await run_promise(second.task(Job).get_state(JOB)) is None


async def test_a_failed_commit_fails_the_run_and_stores_nothing(task_runtime: TaskRuntimeFactory) -> None:
    rt = task_runtime(job_config(Probe()))
    await run_promise(rt.task(Job).send(JOB, Add(by=1)))
    rt.fail_commits(Job, JOB)
    err = await run_promise(rt.task(Job).send(JOB, Schedule(in_ms=1_000)).pipe(catch_tag(TaskExecutionError, succeed)))
    assert isinstance(err, TaskExecutionError) and "could not be committed" in err.message
    rt.fail_commits(Job, JOB, on=False)
    assert rt.scheduled() == {}
    assert await run_promise(rt.task(Job).get_state(JOB)) == JobState(count=1)


async def test_the_store_holds_identity_state_and_alarm(task_runtime: TaskRuntimeFactory) -> None:
    rt = task_runtime(job_config(Probe()))
    await run_promise(rt.task(Job).send(JOB, Add(by=2)))
    await run_promise(rt.task(Job).send(JOB, Schedule(in_ms=1_000)))
    store = rt.store(Job, JOB)
    assert json.loads(store.storage[IDENTITY_KEY]) == {"task": "job", "id": JOB}
    assert JobState.model_validate_json(store.storage[STATE_KEY]) == JobState(count=2)
    assert rt.scheduled() == {("job", JOB): START_MS + 1_000}


async def test_close_releases_the_scoped_services_of_the_runtime_layer(task_runtime: TaskRuntimeFactory) -> None:
    log: list[str] = []

    def open_greeter() -> Greeter:
        log.append("open")
        return Greeter("hi")

    def close(greeter: Greeter, exit: Exit[object, object]) -> Effect[None]:
        return sync(lambda: log.append("close"))

    # The runtime layer (scoped) is built once, on the first run; the job bundle still uses its own Greeter.
    rt = task_runtime(job_config(Probe()), Layer.scoped(Greeter, acquire_release(sync(open_greeter), close)))
    await run_promise(rt.task(Job).send(JOB, Add(by=1)))
    await run_promise(rt.task(Job).send(JOB, Add(by=1)))
    assert log == ["open"]
    await run_promise(rt.close())
    await run_promise(rt.close())
    assert log == ["open", "close"]
