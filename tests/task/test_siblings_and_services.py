"""Siblings (`ctx.task(...)`), the `Storage` platform service and `with_services`."""

from __future__ import annotations

import pytest

from durable_effect.effect import catch_tag, run_promise, succeed
from durable_effect.task import TaskError

from .conftest import TaskRuntimeFactory
from .tasks import JOB, Add, CallSelf, Forward, Greet, Job, JobState, Probe, Remember, Tally, TallyState, job_config

pytestmark = pytest.mark.anyio


async def test_a_handler_sends_to_a_sibling_and_reads_its_state(make_runtime: TaskRuntimeFactory) -> None:
    rt = make_runtime(job_config(Probe()))
    await run_promise(rt.task(Job).send(JOB, Forward(tally_id="t", amount=5)))
    await run_promise(rt.task(Job).send(JOB, Forward(tally_id="t", amount=2)))
    assert await run_promise(rt.task(Tally).get_state("t")) == TallyState(total=7)
    assert await run_promise(rt.task(Job).get_state(JOB)) == JobState(notes=["tally=7"])


async def test_calling_itself_through_the_client_fails_instead_of_hanging(make_runtime: TaskRuntimeFactory) -> None:
    rt = make_runtime(job_config(Probe()))
    await run_promise(rt.task(Job).send(JOB, Add(by=1)))
    err = await run_promise(rt.task(Job).send(JOB, CallSelf()).pipe(catch_tag(TaskError, succeed)))
    assert isinstance(err, TaskError) and "called itself" in err.message
    assert await run_promise(rt.task(Job).get_state(JOB)) == JobState(count=1)


async def test_storage_service_writes_join_the_run(make_runtime: TaskRuntimeFactory) -> None:
    probe = Probe()
    rt = make_runtime(job_config(probe))
    await run_promise(rt.task(Job).send(JOB, Remember(key="k", value="v")))
    assert probe.stored == ["v"]


async def test_with_services_provides_a_layer_to_the_handlers(make_runtime: TaskRuntimeFactory) -> None:
    rt = make_runtime(job_config(Probe(), greeting="bonjour"))
    await run_promise(rt.task(Job).send(JOB, Greet()))
    assert await run_promise(rt.task(Job).get_state(JOB)) == JobState(notes=["bonjour"])
