"""LocalRunLauncher's answer to the run monitor, from the run worker's process (`mlops_assets/embedded/run_launcher.py`).

Each case records a run worker the way Dagster does (the "Started process for run" engine event,
the pid in its metadata) for a real process of this test, then asks the launcher of an instance
configured with it. The end-to-end proof under the real daemon is `test_worker_killed.py`.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.events import DagsterEvent, EngineEventData
from dagster._core.events.log import EventLogEntry
from dagster._core.launcher import WorkerStatus

from mlops_assets.embedded.run_launcher import LocalRunLauncher, process_state

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")

LAUNCHER = {"module": "mlops_assets.embedded.run_launcher", "class": "LocalRunLauncher"}


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test(overrides={"run_launcher": LAUNCHER}) as test_instance:
        assert isinstance(test_instance.run_launcher, LocalRunLauncher)
        yield test_instance


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen]]:
    """Sleeping child processes; every one left is killed and reaped after the test."""
    started: list[subprocess.Popen] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


def _sleeper(processes: list[subprocess.Popen]) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    processes.append(process)
    return process


def _started_run(instance: dg.DagsterInstance, status=dg.DagsterRunStatus.STARTED) -> dg.DagsterRun:
    return instance.add_run(dg.DagsterRun(job_name="raw_daily", run_id=str(uuid.uuid4()), status=status))


def _worker_reported(instance: dg.DagsterInstance, run: dg.DagsterRun, pid: int, at: float) -> None:
    """The engine event a run worker reports from its own process as it starts, at time ``at``."""
    event = DagsterEvent(
        event_type_value=dg.DagsterEventType.ENGINE_EVENT.value,
        job_name=run.job_name,
        message=f"Started process for run (pid: {pid}).",
        event_specific_data=EngineEventData.in_process(pid),
    )
    instance.store_event(
        EventLogEntry(
            error_info=None,
            level=logging.DEBUG,
            user_message="",
            run_id=run.run_id,
            timestamp=at,
            dagster_event=event,
        )
    )


def _health(instance: dg.DagsterInstance, run: dg.DagsterRun):
    return instance.run_launcher.check_run_worker_health(run)


def test_a_live_worker_is_running(instance, processes):
    worker = _sleeper(processes)
    run = _started_run(instance)
    _worker_reported(instance, run, worker.pid, time.time())
    assert _health(instance, run).status == WorkerStatus.RUNNING


def test_a_worker_killed_and_reaped_has_failed(instance, processes):
    worker = _sleeper(processes)
    run = _started_run(instance)
    _worker_reported(instance, run, worker.pid, time.time())
    worker.kill()
    worker.wait(timeout=30)
    result = _health(instance, run)
    assert result.status == WorkerStatus.FAILED
    assert result.msg.startswith(f"The run worker (pid {worker.pid}, started ")
    assert "is gone: no process has its pid" in result.msg


def test_a_killed_worker_not_reaped_yet_a_zombie_has_failed(instance, processes):
    worker = _sleeper(processes)
    run = _started_run(instance)
    _worker_reported(instance, run, worker.pid, time.time())
    worker.kill()  # not waited for: it stays a zombie of this process
    deadline = time.monotonic() + 30
    while process_state(worker.pid).state != "Z":
        assert time.monotonic() < deadline, "the killed child never became a zombie"
        time.sleep(0.05)
    result = _health(instance, run)
    assert result.status == WorkerStatus.FAILED
    assert "zombie" in result.msg


def test_a_recycled_pid_is_not_the_worker(instance, processes):
    # The worker reported a minute ago; the process with its pid now started just now.
    newcomer = _sleeper(processes)
    run = _started_run(instance)
    _worker_reported(instance, run, newcomer.pid, time.time() - 60)
    result = _health(instance, run)
    assert result.status == WorkerStatus.FAILED
    assert "its pid now belongs to a process started" in result.msg


def test_a_finished_run_succeeded_whatever_its_worker(instance, processes):
    worker = _sleeper(processes)
    run = _started_run(instance, status=dg.DagsterRunStatus.SUCCESS)
    _worker_reported(instance, run, worker.pid, time.time())
    worker.kill()
    worker.wait(timeout=30)
    assert _health(instance, run).status == WorkerStatus.SUCCESS


def test_before_the_worker_reports_the_run_counts_as_running(instance):
    # A run executed in another process (or a worker still starting): start_timeout_seconds and
    # max_runtime_seconds decide, not the health check.
    assert _health(instance, _started_run(instance)).status == WorkerStatus.RUNNING
