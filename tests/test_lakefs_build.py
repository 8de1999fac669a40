"""`make lakefs` and the wrapper `make test` runs through, as a new user meets them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from tests.conftest import PROJECT_ROOT

WRAPPER = PROJECT_ROOT / "deploy" / "lakefs" / "with_lakefs.sh"


@pytest.mark.skipif(shutil.which("go") is None, reason="no Go toolchain: `make lakefs` cannot build here")
def test_make_lakefs_prints_an_executable_whose_version_names_lakefs_at_the_pinned_version():
    done = subprocess.run(
        ["make", "--no-print-directory", "lakefs"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    binary = done.stdout.strip().splitlines()[-1]
    assert os.access(binary, os.X_OK), binary
    version = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=60).stdout
    pinned = re.search(r"github.com/treeverse/lakefs v(\S+)", (WRAPPER.parent / "go.mod").read_text())[1]
    assert f"lakefs version {pinned}" in version
    # lakeFS speaks the API of the lakefs-sdk the project pins.
    assert f'"lakefs-sdk=={pinned}"' in (PROJECT_ROOT / "pyproject.toml").read_text()


def test_without_go_the_real_lakefs_tests_are_skipped_with_one_line_and_nothing_required(tmp_path):
    bin_dir = tmp_path / "bin"  # a PATH with what the wrapper needs, and no go
    bin_dir.mkdir()
    for tool in ("bash", "env", "dirname"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    done = subprocess.run(
        ["bash", str(WRAPPER), "env"],
        env={"PATH": str(bin_dir), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    said = [line for line in done.stdout.splitlines() if "Go" in line]
    assert said == [
        "no Go toolchain on PATH: the real-lakeFS tests are skipped (the store suite runs on the local"
        " store and the fake)"
    ]
    assert "MLOPS_REQUIRE_LAKEFS" not in done.stdout and "MLOPS_LAKEFS_BIN" not in done.stdout
