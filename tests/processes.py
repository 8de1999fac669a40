"""Servers started by tests: free loopback ports, and stopping a whole process group in bounded time."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_group(process: subprocess.Popen, grace_seconds: float = 30) -> bool:
    """SIGTERM the process group (servers' children outlive their parent), SIGKILL after the grace.

    Returns True if SIGTERM sufficed. The process must have been started with start_new_session=True.
    """
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace_seconds)
        return True
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=grace_seconds)
        return False


def kill_when_printed(child: subprocess.Popen, marker: str, seconds: float = 180) -> str:
    """Read the child's stdout until a line holds ``marker``, then SIGKILL it (killed in any case);
    returns that line ("" if the child ended or the time ran out first)."""
    line = ""
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and marker not in line:
            line = child.stdout.readline()
            if not line and child.poll() is not None:
                break
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    return line if marker in line else ""


SERVER_LOG = "server.log"


@contextmanager
def mlflow_server(
    root: Path,
    start_seconds: float = 120,
    artifacts_destination: str | None = None,
    environment: dict[str, str] | None = None,
) -> Iterator[str]:
    """A real ``mlflow server`` on a free 127.0.0.1 port (sqlite and artifacts under ``root``); its URL.

    Waits for /health within ``start_seconds``; stops the server's whole process group after. Its
    output goes to ``root/server.log``, for a test that fails to show."""
    port = free_port()
    root.mkdir(parents=True, exist_ok=True)
    log = (root / SERVER_LOG).open("ab")
    server = subprocess.Popen(
        [
            os.path.join(os.path.dirname(sys.executable), "mlflow"),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{root / 'server.db'}",
            "--artifacts-destination",
            artifacts_destination or str(root / "server-artifacts"),
        ],  # fmt: skip
        env={**os.environ, **(environment or {})},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # uvicorn workers are children: stop the whole group
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_seconds
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            assert server.poll() is None, "mlflow server exited during start-up"
            assert time.monotonic() < deadline, (
                f"mlflow server did not answer /health within {start_seconds} s"
            )
            time.sleep(0.5)
        yield url
    finally:
        stop_group(server, grace_seconds=20)
        log.close()
