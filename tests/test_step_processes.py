"""The step processes of the multiprocess executor (``platform/executor.py``, ``step_process.py``).

- Each gets MLOPS_STEP_THREADS threads for scikit-learn's OpenMP and numpy's BLAS: steps run side by
  side, one per core, and a thread per core in each oversubscribed the machine (two models scoring
  a year: 60 s a step, against 8 s with a thread each).
- A run with a step that uses MLflow forks its steps from a server that imported MLflow once.
- It is Dagster's multiprocess executor, through its public API.

Runs go in a fresh interpreter: the fork server that preloads all this is started once per process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

RUN = """
import json, sys
import dagster as dg
import tests.test_step_processes as jobs

job, *nodes = sys.argv[1:]
with dg.instance_for_test() as instance, dg.execute_job(dg.reconstructable(getattr(jobs, job)), instance) as result:
    assert result.success
    outputs = {node: result.output_for_node(node) for node in nodes}
    print(json.dumps(outputs))
"""


def _imported() -> dict[str, bool]:
    return {module: module in sys.modules for module in ("mlflow", "skops.io", "polars")}


def threads_job():
    import dagster as dg

    from mlops_assets.platform.executor import executor_for
    from mlops_assets.settings import current_settings

    @dg.op
    def threads() -> dict[str, int]:
        import sklearn.ensemble  # noqa: F401  (loads OpenMP, as training and scoring do)
        from threadpoolctl import threadpool_info

        return {pool["user_api"]: pool["num_threads"] for pool in threadpool_info()}

    @dg.job(executor_def=executor_for(current_settings()))
    def threads_job():
        threads()

    return threads_job


def imports_job():
    """Only a step that does not use MLflow."""
    import dagster as dg

    from mlops_assets.platform.executor import executor_for
    from mlops_assets.settings import current_settings

    @dg.op
    def data_step() -> dict[str, bool]:
        return _imported()

    @dg.job(executor_def=executor_for(current_settings()))
    def imports():
        data_step()

    return imports


def preload_job():
    """A step that uses the MLflow resource and one that does not; each says what it found imported."""
    import dagster as dg

    from mlops_assets.platform.executor import executor_for
    from mlops_assets.settings import current_settings

    @dg.op(required_resource_keys={"mlflow"})
    def model_step() -> dict[str, bool]:
        return _imported()

    @dg.op
    def data_step() -> dict[str, bool]:
        return _imported()

    @dg.job(
        executor_def=executor_for(current_settings()),
        resource_defs={"mlflow": dg.ResourceDefinition.none_resource()},
    )
    def preload():
        model_step()
        data_step()

    return preload


def sleeper_job():
    """A step that says its pid, then works for longer than any test waits."""
    import dagster as dg

    from mlops_assets.platform.executor import executor_for
    from mlops_assets.settings import current_settings

    @dg.op
    def long_step() -> None:
        import time

        Path(os.environ["STEP_PID_FILE"]).write_text(str(os.getpid()))
        time.sleep(300)

    @dg.job(executor_def=executor_for(current_settings()))
    def sleeper():
        long_step()

    return sleeper


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie, exited and not yet reaped, is not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def _environment(tmp_path: Path, **env: str) -> dict[str, str]:
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "OMP_", "OPENBLAS_", "MKL_"))
    }
    environment.update(MLOPS_HOME=str(tmp_path), MLOPS_EXECUTOR="multiprocess", PYTHONPATH=str(ROOT), **env)
    return environment


def _step_outputs(tmp_path: Path, job: str, *nodes: str, **env: str) -> dict:
    """Run a job of this module in a fresh interpreter; the outputs of the named steps."""
    environment = _environment(tmp_path, **env)
    done = subprocess.run(
        [sys.executable, "-c", RUN, job, *nodes],
        env=environment,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: every budget is one thread")
def test_a_step_process_uses_one_thread_by_default_and_the_budget_it_is_given(tmp_path):
    def threads(**env: str) -> dict[str, int]:
        return _step_outputs(tmp_path, "threads_job", "threads", **env)["threads"]

    assert threads() == {"openmp": 1, "blas": 1}
    assert threads(MLOPS_STEP_THREADS="2") == {"openmp": 2, "blas": 2}
    # A variable the user set for the OpenMP runtime is kept.
    assert threads(OMP_NUM_THREADS="2")["openmp"] == 2


def test_a_run_with_a_step_that_uses_mlflow_forks_its_steps_from_a_server_that_imported_it(tmp_path):
    steps = _step_outputs(tmp_path, "preload_job", "model_step", "data_step")
    # One server per run: both steps of this run find MLflow and skops (scikit-learn's model format) imported.
    assert steps["model_step"] == steps["data_step"] == {"mlflow": True, "skops.io": True, "polars": True}
    # A run without such a step does not import them.
    assert _step_outputs(tmp_path, "imports_job", "data_step")["data_step"] == {
        "mlflow": False,
        "skops.io": False,
        "polars": True,
    }


def test_a_bad_step_thread_budget_is_a_settings_error_naming_it():
    from mlops_assets.settings import SettingsError, load_settings

    for bad in ("0", "two", "-1"):
        with pytest.raises(SettingsError, match="MLOPS_STEP_THREADS"):
            load_settings({"MLOPS_STEP_THREADS": bad})


def test_the_step_server_imports_what_a_step_needs_to_open_the_instance(tmp_path):
    """Every step opens the instance first: about 0.5 s of imports (sqlalchemy, Dagster's sql
    storages) that the server does once. It imports the classes only, and opens nothing."""
    from mlops_assets.instance import prepare_instance
    from mlops_assets.settings import load_settings

    home = prepare_instance(load_settings({"MLOPS_HOME": str(tmp_path / "mlops")}))
    before = sorted(p.name for p in Path(home).rglob("*"))
    probe = (
        "import sys; import mlops_assets.embedded.step_preload; "
        "print(' '.join(m for m in sys.argv[1:] if m in sys.modules))"
    )
    wanted = [
        "sqlalchemy",
        "mlops_assets.embedded.event_log_storage",
        "dagster._core.storage.runs.sqlite.sqlite_run_storage",
        "dagster._core.storage.schedules.sqlite.sqlite_schedule_storage",
    ]
    done = subprocess.run(
        [sys.executable, "-c", probe, *wanted],
        env={**_environment(tmp_path), "DAGSTER_HOME": str(home)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == wanted
    assert sorted(p.name for p in Path(home).rglob("*")) == before


def test_a_step_process_ends_when_its_run_worker_is_killed(tmp_path):
    """Python's fork server does not end its children with the run worker: a step went on after
    its worker was SIGKILLed, next to the retry the run monitor starts. Now it ends with it."""
    pid_file = tmp_path / "step.pid"
    worker = subprocess.Popen(
        [sys.executable, "-c", RUN, "sleeper_job"],
        env=_environment(tmp_path, STEP_PID_FILE=str(pid_file)),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    step = None
    try:
        deadline = time.monotonic() + 120
        while not pid_file.exists() or not pid_file.read_text():
            assert worker.poll() is None, "the run ended before its step started"
            assert time.monotonic() < deadline, "the step did not start within 120 s"
            time.sleep(0.2)
        step = int(pid_file.read_text())
        assert _running(step)

        worker.kill()
        worker.wait(timeout=30)
        deadline = time.monotonic() + 20
        while _running(step) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _running(step), "the step process outlived its run worker by 20 s"
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=30)
        if step is not None and _running(step):
            os.kill(step, signal.SIGKILL)


def test_the_step_executor_is_dagsters_multiprocess_executor_with_a_preload_per_run():
    """Dagster's own executor, config and all, registered under its own name: only the fork
    server's preload is chosen per run (a run's configured modules are kept, after ours)."""
    import dagster as dg

    from mlops_assets.platform.executor import (
        MODEL_PRELOAD,
        STEP_EXECUTOR,
        STEP_PRELOAD,
        executor_for,
        preload_for,
    )
    from mlops_assets.settings import load_settings

    executor = executor_for(load_settings({}))
    assert executor.name == STEP_EXECUTOR != dg.multiprocess_executor.name
    assert executor.config_schema is dg.multiprocess_executor.config_schema
    assert preload_for({"store"}, ["extra"]) == [*STEP_PRELOAD, "extra"]
    assert preload_for({"store", "mlflow"}, []) == [*STEP_PRELOAD, *MODEL_PRELOAD]
