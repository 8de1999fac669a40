"""The embedded MLflow store (sqlite) is created by migrations on first use: several processes that
first touch it at once (two training steps of a fresh state) must all succeed."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

# Each process waits for the same start instant, then asks for an experiment (which creates the store).
FIRST_USE = r"""
import sys, time
from pathlib import Path
from mlops_assets.lib.tracking import Tracker
start = float(sys.argv[2])
time.sleep(max(0.0, start - time.time()))
tracker = Tracker(sys.argv[1], artifact_root=Path(sys.argv[3]))
print(tracker.experiment_id(sys.argv[4]))
"""


@pytest.mark.parametrize("attempt", range(2))
def test_processes_creating_a_new_store_at_once_all_succeed(tmp_path, attempt):
    uri = f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}"
    start = time.time() + 6  # every interpreter has imported mlflow by then
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-W",
                "ignore",
                "-c",
                FIRST_USE,
                uri,
                str(start),
                str(tmp_path / "artifacts"),
                f"spec_{i}",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(3)
    ]
    outcomes = [process.communicate(timeout=180) for process in processes]
    failures = [
        err[-2000:] for process, (_, err) in zip(processes, outcomes, strict=True) if process.returncode != 0
    ]
    assert not failures, failures
    assert len({out.strip() for out, _ in outcomes}) == 3  # three experiments, one store
