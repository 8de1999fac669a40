"""The embedded instance's run launcher: Dagster's own, plus a health check of the run worker.

``DefaultRunLauncher`` starts each run worker as a process of the code server and cannot tell the
daemon's run monitor that it died: a killed worker left its run STARTED until ``max_runtime_seconds``,
then the run was only canceled, and a canceled run is not retried. ``LocalRunLauncher`` answers the
monitor from the worker's process on this machine (``dagster.yaml``: ``run_launcher: {module:
mlops_assets.embedded.run_launcher, class: LocalRunLauncher}``), so the monitor fails the run at once and the
run retry policy retries it. One machine only: the pid is looked up in this machine's ``/proc``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from dagster import DagsterEventType, DagsterRun, DefaultRunLauncher
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus

# The engine event the run worker reports first, from its own process (dagster's gRPC server and
# `dagster api execute_run` both), with the pid in its metadata.
WORKER_STARTED = "Started process for run"
# /proc's boot time is whole seconds, and the worker reports after it started: its start may
# appear up to this much after the event without being another process.
CLOCK_SLACK_SECONDS = 2.0
PROC = Path("/proc")


@dataclass(frozen=True)
class WorkerProcess:
    """The run worker as the run's event log recorded it."""

    pid: int
    reported_at: float  # the event's timestamp (seconds since the epoch)


@dataclass(frozen=True)
class ProcessState:
    state: str  # /proc/<pid>/stat field 3: R, S, D, Z, ...
    started_at: float  # seconds since the epoch


def run_worker(instance, run_id: str) -> WorkerProcess | None:
    """The latest run worker the run's event log names (None before the worker reported)."""
    for entry in reversed(instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT)):
        event = entry.dagster_event
        if event is None or not (event.message or "").startswith(WORKER_STARTED):
            continue
        pid = event.engine_event_data.metadata.get("pid")
        if pid is not None:
            return WorkerProcess(pid=int(pid.value), reported_at=entry.timestamp)
    return None


def process_state(pid: int, proc: Path = PROC) -> ProcessState | None:
    """State and start time of a live process (zombies included), None if there is none."""
    try:
        stat = (proc / str(pid) / "stat").read_text()
        boot = next(line for line in (proc / "stat").read_text().splitlines() if line.startswith("btime "))
    except (FileNotFoundError, ProcessLookupError):
        return None
    # Fields after the command name, which is in parentheses and may itself hold spaces or ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    state, start_ticks = fields[0], int(fields[19])  # fields 3 and 22 of proc(5)
    return ProcessState(state=state, started_at=int(boot.split()[1]) + start_ticks / os.sysconf("SC_CLK_TCK"))


def worker_health(worker: WorkerProcess, proc: Path = PROC) -> CheckRunHealthResult:
    """RUNNING while the process that reported as the run worker is alive, FAILED once it is gone."""
    where = f"run worker (pid {worker.pid}, started {_when(worker.reported_at)})"
    if not proc.is_dir():  # no /proc (macOS): whether the pid exists is all there is to know
        try:
            os.kill(worker.pid, 0)
        except ProcessLookupError:
            return _failed(worker, f"The {where} is gone: no process has its pid.")
        except PermissionError:
            pass
        return CheckRunHealthResult(WorkerStatus.RUNNING, run_worker_id=str(worker.pid))
    found = process_state(worker.pid, proc)
    if found is None:
        return _failed(worker, f"The {where} is gone: no process has its pid.")
    if found.state in ("Z", "X"):
        return _failed(worker, f"The {where} died: it is a zombie waiting to be reaped.")
    if found.started_at > worker.reported_at + CLOCK_SLACK_SECONDS:
        return _failed(
            worker,
            f"The {where} is gone: its pid now belongs to a process started {_when(found.started_at)}.",
        )
    return CheckRunHealthResult(WorkerStatus.RUNNING, run_worker_id=str(worker.pid))


def _failed(worker: WorkerProcess, message: str) -> CheckRunHealthResult:
    return CheckRunHealthResult(WorkerStatus.FAILED, message, run_worker_id=str(worker.pid))


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


class LocalRunLauncher(DefaultRunLauncher):
    """``DefaultRunLauncher`` whose run workers the run monitor can check (one machine)."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        current = self._instance.get_run_by_id(run.run_id) or run
        if current.is_finished:
            return CheckRunHealthResult(WorkerStatus.SUCCESS, f"The run is {current.status.value}.")
        worker = run_worker(self._instance, run.run_id)
        if worker is None:  # not reported yet: start_timeout_seconds covers a worker that never starts
            return CheckRunHealthResult(WorkerStatus.RUNNING, "The run worker has not reported yet.")
        return worker_health(worker)
