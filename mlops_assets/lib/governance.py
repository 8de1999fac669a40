"""Where a model came from: git sha of the code and the exact dependency set."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from mlops_assets.lib.tracking.tracker import dependency_lock


def git_sha(project_root: Path, configured: str | None = None) -> str:
    """The configured sha (images set it at build), else the checkout's HEAD, else 'unknown'."""
    if configured:
        return configured
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=project_root, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return done.stdout.strip() if done.returncode == 0 else "unknown"


def lock_digest() -> tuple[str, str]:
    """(the pinned environment as text, its sha256)."""
    lock = dependency_lock()
    return lock, hashlib.sha256(lock.encode()).hexdigest()
