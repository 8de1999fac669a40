"""A real lakeFS server on this machine: the binary ``make lakefs`` builds, run on 127.0.0.1.

For the tests and for ``demo --lakefs``; production runs lakeFS as a service of its own
(deploy/README.md). The server uses lakeFS's local KV store and local blockstore under one data
directory, listens on a free loopback port, and is set up on first start with an admin key made
here (``installation.*``, lakeFS's unattended setup). It is stopped by its own process id.

Nothing here downloads anything: the binary is found through ``MLOPS_LAKEFS_BIN`` or in the cache
``deploy/lakefs/build.sh`` fills; ``find_binary`` returns None when neither has one.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

from mlops_assets.errors import StoreError

BINARY_VARIABLE = "MLOPS_LAKEFS_BIN"
BUILD_SCRIPT = Path(__file__).resolve().parent.parent / "deploy" / "lakefs" / "build.sh"
START_SECONDS = 60.0
STOP_SECONDS = 15.0
ADMIN_USER = "mlops-admin"


def find_binary() -> Path | None:
    """The lakeFS server to run: ``MLOPS_LAKEFS_BIN`` if set (it must exist), else the newest build
    in ``build.sh``'s cache, else None (no Go here, or ``make lakefs`` has not run)."""
    named = os.environ.get(BINARY_VARIABLE, "").strip()
    if named:
        path = Path(named)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise StoreError(f"{BINARY_VARIABLE}={named} is not an executable file; run `make lakefs`")
        return path
    cache_root = Path(
        os.environ.get("MLOPS_LAKEFS_CACHE")
        or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mlops_assets" / "lakefs"
    )
    builds = sorted(cache_root.glob("*/lakefs"), key=lambda path: path.stat().st_mtime)
    return builds[-1] if builds else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str

    def __repr__(self) -> str:
        return f"Credentials(access_key_id={self.access_key_id!r}, secret_access_key='***')"


class LakeFSServer:
    """``with LakeFSServer(binary, data_dir) as server:`` a running lakeFS at ``server.endpoint``,
    with admin credentials ``server.admin``. The data directory persists across starts, so a server
    started again on it keeps its repositories (and its admin key, which is kept in the directory
    with owner-only permissions)."""

    def __init__(self, binary: Path, data_dir: Path, *, start_seconds: float = START_SECONDS):
        self.binary = Path(binary)
        self.data_dir = Path(data_dir)
        self.start_seconds = start_seconds
        self.port = _free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log_path = self.data_dir / "lakefs.log"
        self.admin = self._admin_credentials()
        self._process: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        return f"LakeFSServer(endpoint={self.endpoint!r}, data_dir={str(self.data_dir)!r})"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def _admin_credentials(self) -> Credentials:
        """Made once per data directory: lakeFS keeps the first setup's key, so a restart must reuse it."""
        keys = self.data_dir / "admin.key"
        if not keys.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            # 20 characters, as lakeFS's own keys: its S3 gateway refuses a longer key id (V4 signatures).
            access_key_id = "AKIAMLOPS" + secrets.token_hex(6).upper()[:11]
            secret = secrets.token_urlsafe(30)
            descriptor = os.open(keys, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(f"{access_key_id}\n{secret}\n")
        access_key_id, secret = keys.read_text().split()
        return Credentials(access_key_id, secret)

    def _config(self) -> Path:
        """lakeFS's configuration file: everything local, nothing reaching out (no stats, no usage
        report, no latest-version check), the admin made by the unattended setup."""
        data = self.data_dir
        config = data / "config.yaml"
        lines = [
            f'listen_address: "127.0.0.1:{self.port}"',
            "logging:",
            "  format: text",
            "  level: WARN",
            f'  output: "{self.log_path}"',
            "database:",
            "  type: local",
            "  local:",
            f'    path: "{data / "metadata"}"',
            "blockstore:",
            "  type: local",
            "  local:",
            f'    path: "{data / "blockstore"}"',
            "committed:",
            "  local_cache:",
            f'    dir: "{data / "cache"}"',
            "auth:",
            "  encrypt:",
            f'    secret_key: "{self._encrypt_key()}"',
            "installation:",
            f"  user_name: {ADMIN_USER}",
            f'  access_key_id: "{self.admin.access_key_id}"',
            f'  secret_access_key: "{self.admin.secret_access_key}"',
            "stats:",
            "  enabled: false",
            "usage_report:",
            "  enabled: false",
            "security:",
            "  check_latest_version: false",
            "gateways:",
            "  s3:",
            "    region: us-east-1",
        ]
        descriptor = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write("\n".join(lines) + "\n")
        return config

    def _encrypt_key(self) -> str:
        path = self.data_dir / "encrypt.key"
        if not path.exists():
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(secrets.token_hex(32))
        return path.read_text().strip()

    def start(self) -> Self:
        config = self._config()
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [str(self.binary), "run", "--config", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_until_healthy()
        return self

    def _wait_until_healthy(self) -> None:
        deadline = time.monotonic() + self.start_seconds
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise StoreError(
                    f"lakeFS ({self.binary}) exited with {self._process.returncode} while starting;"
                    f" its log: {self.log_path}"
                )
            if self._answers():
                return
            time.sleep(0.1)
        self.stop()
        raise StoreError(
            f"lakeFS did not answer {self.endpoint}/_health within {self.start_seconds:.0f} s; its log:"
            f" {self.log_path}"
        )

    def _answers(self) -> bool:
        """Healthy, and the unattended setup has made the admin (the API then accepts its key)."""
        try:
            with urllib.request.urlopen(f"{self.endpoint}/_health", timeout=2) as answer:
                if answer.status >= 300:
                    return False
            with urllib.request.urlopen(f"{self.endpoint}/api/v1/setup_lakefs", timeout=2) as answer:
                return json.loads(answer.read()).get("state") == "initialized"
        except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
            return False

    def stop(self) -> None:
        """SIGTERM by its own process id, SIGKILL if it has not gone within the bound."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_SECONDS)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
