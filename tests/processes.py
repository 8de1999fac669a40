"""Servers started by tests: free loopback ports, and stopping a whole process group in bounded time."""

from __future__ import annotations

import os
import signal
import socket
import subprocess


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
