"""Human-readable lineage of a model version: what an auditor asks for, in one screen."""

from __future__ import annotations

import json
from typing import Any

_ROWS = [
    ("training data commit", "mlops.training_data_commit"),
    ("training data store", "mlops.training_data_store"),
    ("train partitions", "mlops.train_partitions"),
    ("holdout partitions", "mlops.holdout_partitions"),
    ("train rows", "mlops.train_rows"),
    ("holdout rows", "mlops.holdout_rows"),
    ("git sha", "mlops.git_sha"),
    ("spec file", "mlops.spec_file"),
    ("spec hash", "mlops.spec_hash"),
    ("code version", "mlops.code_version"),
    ("dagster run", "mlops.dagster_run_id"),
    ("python", "mlops.python_version"),
    ("dependency lock sha256", "mlops.dependencies_lock_sha256"),
    ("promotion", "mlops.promotion"),
]


def format_lineage(lineage: dict[str, Any]) -> str:
    tags = lineage["tags"]
    lines = [
        f"model {lineage['model']} version {lineage['version']}"
        + (f" (aliases: {', '.join(lineage['aliases'])})" if lineage["aliases"] else ""),
        f"  {'mlflow run':<24} {lineage['run_id']}",
    ]
    lines += [f"  {label:<24} {tags[key]}" for label, key in _ROWS if key in tags]
    if "mlops.dependencies" in tags:
        packages = json.loads(tags["mlops.dependencies"])
        lines.append(f"  {'dependencies':<24} " + ", ".join(f"{k}=={v}" for k, v in sorted(packages.items())))
    for name, value in sorted(lineage["metrics"].items()):
        lines.append(f"  {name:<24} {value:.4f}")
    return "\n".join(lines)
