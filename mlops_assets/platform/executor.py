"""The executor runs are given: in process, a process per step, or a pod per step (``MLOPS_EXECUTOR``).

With a process per step (the default, local), steps fork from one server that imports, once per
run, what they all need: the thread budget (``step_process.py``), the embedded instance's storage
classes (``embedded/step_preload.py``), the code location and pandera, which every contract check
uses. A run with steps that use MLflow (training, scoring, monitoring) also has the server import
MLflow, scikit-learn and skops, about 3 s that each such step paid on its own: at 20 models a year
of scoring is 80 of them. A run of raw data and features does not pay for them.

This is Dagster's own ``multiprocess_executor`` through its public API: the same config, with the
preload chosen per run as ``start_method: forkserver: preload_modules``.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

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
STEP_EXECUTOR = "mlops_multiprocess_executor"


def preload_for(required_resource_keys: Any, configured: list[str]) -> list[str]:
    """What the step server imports for a run whose steps need ``required_resource_keys``."""
    models = MODEL_PRELOAD if MODEL_RESOURCE in required_resource_keys else ()
    return list(dict.fromkeys([*STEP_PRELOAD, *models, *configured]))


@dg.executor(
    name=STEP_EXECUTOR,
    config_schema=dg.multiprocess_executor.config_schema,
    requirements=[
        dg.ExecutorRequirement.RECONSTRUCTABLE_JOB,
        dg.ExecutorRequirement.NON_EPHEMERAL_INSTANCE,
        dg.ExecutorRequirement.PERSISTENT_OUTPUTS,
    ],
)
def step_preloading_executor(init_context: dg.InitExecutorContext) -> dg.Executor:
    """Dagster's multiprocess executor; steps fork from a server that preloads what the run's
    steps use (and the modules a run's config adds under ``start_method: forkserver: preload_modules``)."""
    config = dict(init_context.executor_config)
    # Dagster's own config: a run may still ask for `spawn`, or add modules to preload.
    start_method, start_config = next(iter((config.get("start_method") or {"forkserver": {}}).items()))
    if start_method == "forkserver":
        job = init_context.job.get_definition()  # the run's subset of the job
        preload = preload_for(job.required_resource_keys, (start_config or {}).get("preload_modules") or [])
        config["start_method"] = {"forkserver": {"preload_modules": preload}}
    stock = dg.multiprocess_executor.executor_creation_fn
    assert stock is not None  # Dagster's multiprocess executor has one
    return stock(
        dg.InitExecutorContext(
            job=init_context.job,
            executor_def=init_context.executor_def,
            executor_config=config,
            instance=init_context.instance,
        )
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
