"""A real S3-compatible object store for the tests: SeaweedFS's ``weed mini`` on 127.0.0.1.

Built from its Go module by ``deploy/seaweedfs/build.sh`` (Apache-2.0; MinIO is AGPL-3.0). One
process runs SeaweedFS's master, volume server, filer and S3 gateway; every port is a free loopback
port, nothing else is served (no WebDAV, admin UI, Iceberg or Lance endpoints, no telemetry), and one
identity (a key made here) owns the buckets. Stopped by its own process id.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from pathlib import Path
from typing import Self

from mlops_assets.lakefs_server import LocalServer, launch, terminate
from tests.processes import free_port

BUILD_SCRIPT = Path(__file__).resolve().parents[1] / "deploy" / "seaweedfs" / "build.sh"
START_SECONDS = 90.0


def find_weed() -> Path | None:
    """The ``weed`` binary: ``MLOPS_WEED_BIN``, else the newest in build.sh's cache, else None."""
    named = os.environ.get("MLOPS_WEED_BIN", "").strip()
    if named:
        return Path(named)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mlops_assets" / "seaweedfs"
    builds = sorted(cache.glob("*/weed"), key=lambda path: path.stat().st_mtime)
    return builds[-1] if builds else None


class SeaweedS3(LocalServer):
    """``with SeaweedS3(binary, directory, buckets=["lakefs"]) as s3:`` an S3 endpoint at
    ``s3.endpoint`` with ``s3.access_key_id`` / ``s3.secret_access_key``, the buckets made."""

    def __init__(self, binary: Path, directory: Path, buckets: list[str]):
        self.binary = Path(binary)
        self.directory = Path(directory)
        self.buckets = buckets
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.access_key_id = "MLOPSS3" + secrets.token_hex(6).upper()
        self.secret_access_key = secrets.token_urlsafe(30)
        self.log_path = self.directory / "weed.log"
        self._process: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        return f"SeaweedS3(endpoint={self.endpoint!r})"

    def start(self) -> Self:
        data = self.directory / "data"
        data.mkdir(parents=True, exist_ok=True)
        config = self.directory / "s3.json"
        identity = {
            "name": "mlops",
            "credentials": [{"accessKey": self.access_key_id, "secretKey": self.secret_access_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        descriptor = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            json.dump({"identities": [identity]}, handle)
        ports = {
            "master.port": free_port(),
            "master.port.grpc": free_port(),
            "volume.port": free_port(),
            "volume.port.grpc": free_port(),
            "filer.port": free_port(),
            "filer.port.grpc": free_port(),
            "s3.port": self.port,
            "s3.port.grpc": free_port(),
        }
        argv = [
            str(self.binary),
            "mini",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-s3.config={config}",
            f"-bucket={','.join(self.buckets)}",
            "-webdav=false",
            "-admin.ui=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.telemetry=false",
            *(f"-{flag}={port}" for flag, port in ports.items()),
        ]
        self._process = launch(argv, self.log_path)
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"weed exited with {self._process.returncode}; its log: {self.log_path}")
            if self._buckets_answer():
                return self
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(
            f"SeaweedFS's S3 did not come up within {START_SECONDS:.0f} s; log: {self.log_path}"
        )

    def client(self):
        """A boto3 S3 client on this server (path-style, as a local server needs)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, connect_timeout=2),
        )

    def _buckets_answer(self) -> bool:
        """Every bucket exists, asked with this server's key (``weed mini`` makes them after its S3
        gateway already answers)."""
        from botocore.exceptions import BotoCoreError, ClientError

        client = self.client()
        try:
            for bucket in self.buckets:
                client.head_bucket(Bucket=bucket)
        except (BotoCoreError, ClientError):
            return False
        return True

    def stop(self) -> None:
        """By its own process id (SIGTERM, SIGKILL past the bound)."""
        process, self._process = self._process, None
        terminate(process)


REQUIRE_VARIABLE = "MLOPS_REQUIRE_S3"


def object_store(stack, directory: Path) -> SeaweedS3 | None:
    """Production's object store for a module's fixture, entered on ``stack``: SeaweedFS where it is
    built and the real lakeFS runs (``make test-extended`` builds it where Go is present and then
    requires it), else None."""
    from mlops_assets.lakefs_server import find_binary

    binary = find_weed()
    if binary is None or find_binary() is None:
        if os.environ.get(REQUIRE_VARIABLE) == "1":
            raise RuntimeError(
                f"{REQUIRE_VARIABLE}=1 but no SeaweedFS or lakeFS binary: run deploy/seaweedfs/build.sh"
            )
        return None
    return stack.enter_context(SeaweedS3(binary, directory, ["lakefs", "mlflow", "compute-logs"]))
