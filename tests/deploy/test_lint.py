"""Linters on deploy/: hadolint on the Dockerfile; checkov on the Dockerfile, the Kubernetes manifests
(including the code server Deployment the Helm values render) and every file, for literal secrets.
Every exception is justified where it applies: an inline `# checkov:skip=` comment or a
`checkov.io/skipN` annotation. A missing tool fails the test; it is never skipped."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .chart import post_render, render_code_deployment
from .conftest import DEPLOY, read_yaml

HADOLINT = Path(sys.executable).parent / "hadolint"
# Checks skipped on the rendered code server Deployment, each with its reason in values.yaml.
JUSTIFIED_SKIPS = {"CKV_K8S_35", "CKV_K8S_43"}


def run_checkov(checkov: Path, *args: str) -> dict:
    # --skip-download: no network; results come from the bundled policies only.
    done = subprocess.run(
        [str(checkov), *args, "--skip-download", "--output", "json"],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode in (0, 1), done.stderr[-3000:]  # 1 = failed checks, reported below
    report = json.loads(done.stdout)
    assert isinstance(report, dict), "one framework per run"
    return report


def failures(report: dict) -> list[str]:
    return [
        f"{c['check_id']} {c['resource']} {c['file_path']}:{c['file_line_range']}"
        for c in report["results"]["failed_checks"]
    ]


def test_dockerfile_passes_hadolint():
    if not HADOLINT.exists():
        pytest.fail(f"hadolint not found at {HADOLINT}: install the dev extras (pip install -e '.[dev]')")
    done = subprocess.run(
        [str(HADOLINT), str(DEPLOY / "Dockerfile")], check=False, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and done.stdout == "", done.stdout + done.stderr


def test_dockerfile_passes_checkov(checkov):
    report = run_checkov(checkov, "--file", str(DEPLOY / "Dockerfile"), "--framework", "dockerfile")
    assert failures(report) == []
    assert report["summary"]["passed"] > 0 and report["summary"]["skipped"] == 0


def test_manifests_and_rendered_code_server_pass_checkov(checkov, tmp_path):
    # Together, so graph checks see the NetworkPolicy that covers the code server's pods.
    for path in (DEPLOY / "k8s").glob("*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    # As installed: through the post-renderer, which takes the chart's token away from the code server.
    (rendered,) = post_render([render_code_deployment(read_yaml(DEPLOY / "helm" / "values.yaml"))])
    (tmp_path / "code-server-deployment.yaml").write_text(yaml.safe_dump(rendered))
    report = run_checkov(checkov, "--directory", str(tmp_path), "--framework", "kubernetes")
    assert failures(report) == []
    skipped = report["results"]["skipped_checks"]
    assert {c["check_id"] for c in skipped} == JUSTIFIED_SKIPS
    assert all(c["check_result"]["suppress_comment"].strip() for c in skipped)
    assert report["summary"]["resource_count"] >= 9  # 8 manifests and the Deployment


def test_deploy_files_hold_no_literal_secret(checkov):
    report = run_checkov(checkov, "--directory", str(DEPLOY), "--framework", "secrets")
    assert failures(report) == []
    for check in report["results"]["skipped_checks"]:
        assert check["check_result"]["suppress_comment"].strip(), check["check_id"]
