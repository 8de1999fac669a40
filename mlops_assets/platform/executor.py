"""The executor runs are given: in process, a process per step, or a pod per step (``MLOPS_EXECUTOR``).

With a process per step (the default), steps fork from one server that imports, once per run, what
they all need: the thread budget (``step_process.py``), the instance's storage classes
(``embedded/step_preload.py``), the code
location and pandera, which every contract check uses. A run with steps that use MLflow (training,
scoring, monitoring) also has the server import MLflow, scikit-learn and skops, about 3 s that each
such step paid on its own: at 20 models a year of scoring is 80 of them. A run of raw data and
features does not pay for them.

The run worker also reads the steps' events without waiting on a quiet step while another has
events waiting (``_poll_for_event`` below).
"""

from __future__ import annotations

import queue
import weakref
from collections.abc import Iterator
from typing import Any

import dagster as dg
from dagster._core.definitions.executor_definition import (
    MULTI_PROC_CONFIG,
    multiple_process_executor_requirements,
)
from dagster._core.execution.retries import RetryMode
from dagster._core.execution.step_dependency_config import StepDependencyConfig
from dagster._core.executor import child_process_executor
from dagster._core.executor.multiprocess import MultiprocessExecutor

from mlops_assets.settings import Settings

STEP_PRELOAD = (
    "mlops_assets.platform.step_process",
    "mlops_assets.embedded.step_preload",  # the multiprocess executor is the embedded instance's
    "mlops_assets.definitions",
    "mlops_assets.lib.contracts",
)
MODEL_PRELOAD = (
    "sklearn.ensemble",
    "sklearn.pipeline",
    "skops.io",
    "mlflow",
    "mlflow.sklearn",
    "mlflow.store.tracking.sqlalchemy_store",
    "mlflow.store.model_registry.sqlalchemy_store",
    "mlops_assets.lib.tracking.tracker",
)
MODEL_RESOURCE = "mlflow"


# Events of a step reach the run worker through a queue per step process. Dagster's loop takes one
# event from each running step in turn, and waits up to 20 ms on a step that has none: while one
# step computes, another's events come through at 50 a second. A step of a year's range ends with
# about 370 of them (a materialization a day), so it held its process, and its slot, up to 7 s after
# its work was done, while the next step waited. This poll waits on a quiet step only when no other
# step has events waiting; Dagster's own wait applies when all are quiet.
_step_queues: weakref.WeakSet[Any] = weakref.WeakSet()


def _poll_for_event(process: Any, event_queue: Any) -> Any:
    _step_queues.add(event_queue)
    others_waiting = any(other is not event_queue and not other.empty() for other in list(_step_queues))
    try:
        return event_queue.get(block=True, timeout=0 if others_waiting else child_process_executor.TICK)
    except queue.Empty:
        if not process.is_alive():
            try:  # it may have sent its last events and exited since: drain them first
                return event_queue.get(block=False)
            except queue.Empty:
                _step_queues.discard(event_queue)
                return child_process_executor.PROCESS_DEAD_AND_QUEUE_EMPTY
    return None


class StepPreloadingExecutor(MultiprocessExecutor):
    """Dagster's multiprocess executor, forking steps from a server that preloads what they use
    (and the modules a run's config adds under ``start_method: forkserver: preload_modules``)."""

    def __init__(self, configured_preload: list[str], **kwargs: Any):
        super().__init__(**kwargs)
        self._configured_preload = configured_preload

    def execute(self, plan_context: Any, execution_plan: Any) -> Iterator[dg.DagsterEvent]:
        child_process_executor._poll_for_event = _poll_for_event  # noqa: SLF001 (see above)
        if self._start_method == "forkserver":
            job = plan_context.job.get_definition()
            uses_models = any(
                MODEL_RESOURCE in job.get_node(step.node_handle).definition.required_resource_keys
                for step in execution_plan.get_steps_to_execute_in_topo_order()
            )
            self._explicit_forkserver_preload = [
                *STEP_PRELOAD,
                *(MODEL_PRELOAD if uses_models else ()),
                *self._configured_preload,
            ]
        yield from super().execute(plan_context, execution_plan)


def _step_preloading_executor(init_context: dg.InitExecutorContext) -> StepPreloadingExecutor:
    config = init_context.executor_config
    # Dagster's own config: a run may still ask for `spawn`, or add modules to preload.
    start_method, start_config = next(iter((config.get("start_method") or {"forkserver": {}}).items()))
    return StepPreloadingExecutor(
        configured_preload=list((start_config or {}).get("preload_modules") or []),
        retries=RetryMode.from_config(config["retries"]),  # ty: ignore[invalid-argument-type]
        max_concurrent=config.get("max_concurrent"),
        tag_concurrency_limits=config.get("tag_concurrency_limits"),
        start_method=start_method,
        step_dependency_config=StepDependencyConfig.from_config(config.get("step_dependency_config")),
    )


step_preloading_executor = dg.ExecutorDefinition(
    name="multiprocess_executor",
    config_schema=MULTI_PROC_CONFIG,
    requirements=multiple_process_executor_requirements(),
    executor_creation_fn=_step_preloading_executor,
    description="Dagster's multiprocess executor; steps fork from a server that preloads what they use.",
)


# The identity of step pods (deploy/k8s/serviceaccount.yaml): no token, no Role. A step computes; only
# the run pod, which launches the step Jobs, talks to the Kubernetes API.
STEP_SERVICE_ACCOUNT = "mlops-steps"


def k8s_step_executor() -> dg.ExecutorDefinition:
    """dagster-k8s's k8s_job_executor with its config fixed here: a run's config cannot set the step
    pods' service account, volumes or raw pod spec (the launcher's allow-list covers only run tags)."""
    from dagster_k8s import k8s_job_executor

    return k8s_job_executor.configured(
        {"service_account_name": STEP_SERVICE_ACCOUNT}, name="k8s_job_executor"
    )


def executor_for(settings: Settings) -> dg.ExecutorDefinition:
    if settings.executor == "k8s":
        return k8s_step_executor()
    if settings.executor == "in_process":
        return dg.in_process_executor
    return step_preloading_executor
