"""Run and step pod sizes per kind of work (run_pod_resources.yaml), as Dagster tags."""

from functools import cache
from importlib.resources import files
from typing import Any

import yaml


@cache
def _kinds() -> dict[str, dict[str, Any]]:
    return yaml.safe_load((files("mlops_assets") / "run_pod_resources.yaml").read_text())["kinds"]


def run_tags(kind: str) -> dict[str, Any]:
    """Tags for a job of this kind: ``mlops/kind`` (queue limits) and ``dagster-k8s/config`` (pod size)."""
    return dict(_kinds()[kind])


def op_tags(kind: str) -> dict[str, Any]:
    """Tags for an asset's step pod under k8s_job_executor (only the pod size)."""
    return {"dagster-k8s/config": _kinds()[kind]["dagster-k8s/config"]}
