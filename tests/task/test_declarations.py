"""Declaring tasks and building a config: the mistakes a registry refuses."""

from __future__ import annotations

import pytest

from durable_effect.effect import succeed
from durable_effect.task import Schema, Task, TaskNotFoundError, TaskRegistry
from durable_effect.task.cloudflare import make_task_group_do

from .tasks import Add, Job, JobState, Probe, Tally, job_handlers, registry, tally_handlers


@pytest.mark.parametrize("name", ["", "a/b", "task:x"])
def test_a_task_name_is_non_empty_without_slash_or_colon(name: str) -> None:
    with pytest.raises(ValueError, match="task name"):
        Task.make(name, state=JobState, event=Schema.union(Add))


def test_state_must_be_a_model_and_event_a_union() -> None:
    with pytest.raises(TypeError, match="pydantic model"):
        Task.make("x", state=dict, event=Schema.union(Add))  # type: ignore[type-var]  # the mistake under test
    with pytest.raises(TypeError, match=r"Schema\.union"):
        Task.make("x", state=JobState, event=Add)  # type: ignore[arg-type]  # the mistake under test


def test_names_are_unique_in_a_registry() -> None:
    with pytest.raises(ValueError, match="two tasks"):
        TaskRegistry.make(Job, Task.make("job", state=JobState, event=Schema.union(Add)))


def test_handlers_for_an_unknown_or_a_lookalike_task_are_refused() -> None:
    with pytest.raises(TaskNotFoundError):
        registry.for_("nope")
    lookalike = Task.make("job", state=JobState, event=Schema.union(Add))
    with pytest.raises(ValueError, match="other schemas"):
        registry.handler(lookalike, on_event=lambda ctx, ev: succeed(None))


def test_build_needs_every_task_once_under_its_own_name() -> None:
    job, tally = job_handlers(Probe()), tally_handlers()
    with pytest.raises(ValueError, match="no handlers given for task"):
        registry.build({"job": job})
    with pytest.raises(ValueError, match="unknown task"):
        registry.build({"job": job, "tally": tally, "other": tally})
    with pytest.raises(ValueError, match="under the name"):
        registry.build({"job": tally, "tally": job})
    config = registry.build({"job": job, "tally": tally})
    assert config.task("tally") is Tally
    with pytest.raises(TaskNotFoundError):
        config.task("nope")


@pytest.mark.parametrize("name", ["", "not a name", "class", "_Private"])
def test_a_task_group_class_name_is_one_the_runtime_can_export(name: str) -> None:
    with pytest.raises(ValueError, match="class_name"):
        make_task_group_do(registry.build({"job": job_handlers(Probe()), "tally": tally_handlers()}), class_name=name)
