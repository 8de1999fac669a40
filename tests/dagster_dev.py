"""`dagster dev` (the real webserver and daemon) started by tests, driven over GraphQL as the UI does."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from tests.conftest import PROJECT_ROOT
from tests.processes import free_port, stop_group

T = TypeVar("T")
LOCATION = "mlops_assets"
LAUNCH = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
  }
}"""
REPOSITORIES = """
query { repositoriesOrError { ... on RepositoryConnection { nodes { name location { name } } } } }"""


def wait_for(
    condition: Callable[[], T],
    what: str,
    seconds: float,
    interval: float = 2,
    explain: Callable[[], str] | None = None,
) -> T:
    """``condition()`` once it is truthy; fails the test naming ``what`` after ``seconds``, with
    what ``explain()`` says of the state then."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(interval)
    pytest.fail(f"not within {seconds:.0f} s: {what}" + (f"\n{explain()}" if explain else ""))


def log_tail(log: Path, lines: int = 60) -> str:
    """The last ``lines`` of a server's log (what a failing wait shows)."""
    text = log.read_text(errors="replace").splitlines() if log.exists() else []
    return "\n".join(text[-lines:])


@dataclass(frozen=True)
class DagsterDev:
    port: int
    repository: str
    server: subprocess.Popen

    def kill(self) -> None:
        """SIGKILL every process of `dagster dev` at once (webserver, daemon, code server, run
        workers), as a crash of the machine's session would: nothing gets to clean up."""
        os.killpg(self.server.pid, signal.SIGKILL)
        self.server.wait(timeout=30)

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        return graphql(self.port, query, variables)

    def launch(self, job: str, tags: dict[str, str]) -> str:
        """Launch a run of ``job`` with ``tags`` (the UI's Launch button); its run id."""
        params = {
            "selector": {
                "repositoryLocationName": LOCATION,
                "repositoryName": self.repository,
                "jobName": job,
            },
            "runConfigData": {},
            "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in tags.items()]},
        }
        launched = self.graphql(LAUNCH, {"params": params})["launchRun"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        return launched["run"]["runId"]


def graphql(port: int, query: str, variables: dict | None = None) -> dict:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        payload = json.loads(answer.read())
    assert not payload.get("errors"), payload["errors"]
    return payload["data"]


@contextmanager
def dagster_dev(
    env: dict[str, str],
    log: Path,
    workspace: Path = PROJECT_ROOT / "workspace.yaml",
    start_seconds: float = 180,
) -> Iterator[DagsterDev]:
    """`dagster dev` on a free 127.0.0.1 port with ``env``, its output in ``log``, once it answers;
    its whole process group (webserver, daemon, code server, run workers) is stopped after."""
    port = free_port()
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "dagster"), "dev", "-w", str(workspace), "-h", "127.0.0.1",
             "-p", str(port)],
            cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:

        def serving() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5) as answer:
                    return answer.status == 200
            except OSError:
                return False

        wait_for(
            serving,
            "dagster dev answering",
            start_seconds,
            explain=lambda: f"dagster dev log:\n{log_tail(log)}",
        )
        nodes = graphql(port, REPOSITORIES)["repositoriesOrError"]["nodes"]
        yield DagsterDev(port, next(n["name"] for n in nodes if n["location"]["name"] == LOCATION), server)
    finally:
        try:
            stop_group(server)
        except ProcessLookupError:  # killed already (DagsterDev.kill)
            pass
