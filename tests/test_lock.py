"""Versions come from a lock file with hashes (requirements.lock), used by make, CI and the image
(requirements-runtime.lock: the same pins without [dev]); the Dagster family is bounded at the next
minor."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import PROJECT_ROOT

LOCK = PROJECT_ROOT / "requirements.lock"
RUNTIME_LOCK = PROJECT_ROOT / "requirements-runtime.lock"
SYNC = PROJECT_ROOT / "deploy" / "scripts" / "sync_venv.py"
PYPROJECT = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+) \\$")


def locked(lock: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes): every entry of a `uv pip compile --generate-hashes` lock."""
    entries: dict[str, tuple[str, list[str]]] = {}
    name = None
    for line in lock.read_text().splitlines():
        if match := PIN.match(line):
            name = canonicalize_name(match[1])
            entries[name] = (match[2], [])
        elif line.strip().startswith("--hash=sha256:") and name:
            entries[name][1].append(line.strip().removeprefix("--hash=sha256:").rstrip(" \\"))
        elif line and not line.startswith(" "):
            assert line.startswith("#"), f"{lock.name}: not a pinned requirement: {line!r}"
    return entries


def requirements(extra: str | None = None) -> list[Requirement]:
    return [
        Requirement(text)
        for text in (PYPROJECT["optional-dependencies"][extra] if extra else PYPROJECT["dependencies"])
    ]


def test_dagster_family_is_bounded_at_the_next_minor():
    family = [req for req in requirements() if req.name.startswith("dagster")]
    assert {"dagster", "dagster-webserver", "dagster-k8s", "dagster-postgres", "dagster-aws"} <= {
        req.name for req in family
    }
    for req in family:
        (lower,) = [s.version for s in req.specifier if s.operator == ">="]
        (upper,) = [s.version for s in req.specifier if s.operator == "<"]
        major, minor, _patch = (int(part) for part in lower.split("."))
        assert upper == f"{major}.{minor + 1}", f"{req}: expected <{major}.{minor + 1}"
    pins = {req.name: str(req.specifier) for req in requirements()}
    assert pins["lakefs-sdk"] == "==1.86.0"  # the lakeFS server deploy/lakefs builds
    assert set(pins["dbt-core"].split(",")) == {">=1.11", "<1.12"}


@pytest.mark.parametrize("lock", [LOCK, RUNTIME_LOCK], ids=lambda path: path.name)
def test_every_locked_package_is_pinned_with_hashes_and_allowed_by_pyproject(lock):
    entries = locked(lock)
    for name, (_version, hashes) in entries.items():
        assert hashes and all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes), name
    wanted = requirements() + (requirements("dev") if lock == LOCK else [])
    for req in wanted:
        name = canonicalize_name(req.name)
        assert name in entries, f"{lock.name} lacks {req.name}"
        assert req.specifier.contains(entries[name][0], prereleases=True), (
            f"{lock.name}: {req} vs {entries[name][0]}"
        )


def test_the_image_gets_exactly_the_versions_ci_tested_without_dev_tools():
    full, runtime = locked(LOCK), locked(RUNTIME_LOCK)
    assert {name: entry for name, entry in runtime.items()} == {name: full[name] for name in runtime}
    dev_only = {canonicalize_name(req.name) for req in requirements("dev")}
    assert not dev_only & set(runtime), "the [dev] extras never enter the image"


def test_this_environment_is_exactly_the_lock():
    # What `make venv` installed (and CI, through `make test`): every pin, and nothing else.
    done = subprocess.run([sys.executable, str(SYNC), str(LOCK)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_a_lock_that_moved_on_is_reported_by_name(tmp_path):
    entries = locked(LOCK)
    dropped, bumped = "six", "pyyaml"
    lines = [f"{name}=={version}" for name, (version, _) in entries.items() if name != dropped]
    lines = [f"{bumped}==0.0.1" if line.startswith(f"{bumped}==") else line for line in lines]
    (tmp_path / "moved.lock").write_text("\n".join(lines) + "\n")
    done = subprocess.run(
        [sys.executable, str(SYNC), str(tmp_path / "moved.lock")], capture_output=True, text=True
    )
    assert done.returncode == 1
    assert f"{dropped}=={entries[dropped][0]}: installed, not in" in done.stderr
    assert f"{bumped}: locked 0.0.1, installed {entries[bumped][0]}" in done.stderr


def test_make_venv_reinstalls_from_the_lock_when_it_changes():
    # -n: print what make would do; -W: as if the lock had just changed.
    env = {**os.environ, "MAKEFLAGS": ""}
    done = subprocess.run(
        ["make", "-n", "-W", "requirements.lock", "venv"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    commands = done.stdout.splitlines()
    assert (
        ".venv/bin/python -m pip install --quiet --require-hashes --no-deps -r requirements.lock" in commands
    )
    assert ".venv/bin/python -m pip install --quiet --no-deps --no-build-isolation -e ." in commands
    assert ".venv/bin/python deploy/scripts/sync_venv.py --remove-extra requirements.lock" in commands


@pytest.mark.extended
def test_a_fresh_clone_installs_exactly_the_lock(tmp_path):
    """`make venv` on a copy of the lock, Makefile and project in an empty directory: the new venv's
    `pip freeze` is the lock's pins (plus the project itself)."""
    for name in ("Makefile", "pyproject.toml", "README.md", "requirements.lock"):
        (tmp_path / name).write_bytes((PROJECT_ROOT / name).read_bytes())
    for folder in ("mlops_assets", "deploy/scripts"):
        (tmp_path / folder).parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["cp", "-r", str(PROJECT_ROOT / folder), str(tmp_path / folder)], check=True)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "MAKEFLAGS")}
    done = subprocess.run(
        ["make", "venv"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1800
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    freeze = subprocess.run(
        [str(tmp_path / ".venv/bin/python"), "-m", "pip", "freeze", "--all", "--exclude-editable"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    frozen = {canonicalize_name(name): version for name, version in (line.split("==", 1) for line in freeze)}
    frozen.pop("pip")  # the installer, not a dependency
    assert frozen == {name: version for name, (version, _) in locked(LOCK).items()}
