"""A real lakeFS server on this machine: the binary ``make lakefs`` builds, run on 127.0.0.1.

For the tests and for ``demo --lakefs``; production runs lakeFS as a service of its own
(deploy/README.md). The server uses lakeFS's local KV store and local blockstore under one data
directory, listens on a free loopback port, and is set up on first start with an admin key made
here (``installation.*``, lakeFS's unattended setup). It is stopped by its own process id.

lakeFS's built-in auth allows one user with one key (the admin). With ``acl=True`` lakeFS's own
open-source ACL auth server (contrib/auth/acl, built beside lakeFS as ``acl``) runs first and lakeFS
authorizes through it (``auth.api.endpoint``), so ``create_user`` can make keys with less than the
admin's rights: groups Admins, Supers, Writers, Readers (deploy/README.md, lakeFS credentials).

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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

import lakefs_sdk

from mlops_assets.errors import StoreError

BINARY_VARIABLE = "MLOPS_LAKEFS_BIN"
BUILD_SCRIPT = Path(__file__).resolve().parent.parent / "deploy" / "lakefs" / "build.sh"
START_SECONDS = 60.0
STOP_SECONDS = 15.0
REQUEST_SECONDS = 30.0
ADMIN_USER = "mlops-admin"
ACL_BINARY_NAME = "acl"
# The ACL server's groups (contrib/auth/acl/setup.go), from most to least allowed.
ACL_GROUPS = ("Admins", "Supers", "Writers", "Readers")


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


def find_acl_binary(lakefs_binary: Path) -> Path | None:
    """lakeFS's ACL auth server, which ``build.sh`` puts beside the lakeFS binary; None if absent."""
    path = Path(lakefs_binary).parent / ACL_BINARY_NAME
    return path if path.is_file() and os.access(path, os.X_OK) else None


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


@dataclass(frozen=True)
class S3Blockstore:
    """An S3-compatible object store for lakeFS's blockstore (path-style, as a local server needs);
    repositories then live at ``s3://<bucket>/<repository>``."""

    endpoint: str
    access_key_id: str
    secret_access_key: str
    bucket: str
    region: str = "us-east-1"

    def __repr__(self) -> str:
        return f"S3Blockstore(endpoint={self.endpoint!r}, bucket={self.bucket!r})"

    def namespace(self, repository: str) -> str:
        return f"s3://{self.bucket}/{repository}"

    def config_lines(self) -> list[str]:
        return [
            "  type: s3",
            "  s3:",
            f'    endpoint: "{self.endpoint}"',
            "    force_path_style: true",
            "    discover_bucket_region: false",
            f"    region: {self.region}",
            "    credentials:",
            f'      access_key_id: "{self.access_key_id}"',
            f'      secret_access_key: "{self.secret_access_key}"',
        ]


class LocalServer:
    """A server this process starts and stops: ``with`` starts it and always stops it."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class LakeFSServer(LocalServer):
    """``with LakeFSServer(binary, data_dir) as server:`` a running lakeFS at ``server.endpoint``,
    with admin credentials ``server.admin``. The data directory persists across starts, so a server
    started again on it keeps its repositories (and its admin key, which is kept in the directory
    with owner-only permissions). ``acl=True`` runs lakeFS's ACL auth server too (module docstring);
    a data directory keeps the auth mode it was first set up with."""

    def __init__(
        self,
        binary: Path,
        data_dir: Path,
        *,
        acl: bool = False,
        s3: S3Blockstore | None = None,
        start_seconds: float = START_SECONDS,
    ):
        self.binary = Path(binary)
        self.s3 = s3
        self.data_dir = Path(data_dir)
        self.start_seconds = start_seconds
        self.port = _free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log_path = self.data_dir / "lakefs.log"
        self.acl_binary = self._acl_binary() if acl else None
        self.acl_port = _free_port() if acl else None
        self.acl_log_path = self.data_dir / "acl.log"
        self.admin = self._admin_credentials()
        self._process: subprocess.Popen[bytes] | None = None
        self._acl_process: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        return f"LakeFSServer(endpoint={self.endpoint!r}, data_dir={str(self.data_dir)!r}, acl={self.acl})"

    @property
    def acl(self) -> bool:
        return self.acl_binary is not None

    @property
    def acl_endpoint(self) -> str | None:
        """The ACL server's auth API, which lakeFS calls; None without ``acl``."""
        return f"http://127.0.0.1:{self.acl_port}/api/v1" if self.acl else None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def acl_pid(self) -> int | None:
        return self._acl_process.pid if self._acl_process else None

    def _acl_binary(self) -> Path:
        acl_binary = find_acl_binary(self.binary)
        if acl_binary is None:
            raise StoreError(
                f"no lakeFS ACL server beside {self.binary} (expected {self.binary.parent / ACL_BINARY_NAME});"
                " run `make lakefs`, which builds both"
            )
        return acl_binary

    def _check_auth_mode(self) -> None:
        """lakeFS records its users in the store of the auth it was set up with; switching the mode
        on a data directory would leave the admin in the other store, so it is refused up front."""
        marker = self.data_dir / "auth-mode"
        mode = "acl" if self.acl else "builtin"
        if not marker.exists():
            # A directory from before the marker was set up with the built-in auth.
            marker.write_text(("builtin" if (self.data_dir / "metadata").exists() else mode) + "\n")
        recorded = marker.read_text().strip()
        if recorded != mode:
            raise StoreError(
                f"lakeFS data directory {self.data_dir} was set up with {recorded} auth, not {mode};"
                " use a fresh data directory to change it"
            )

    def _admin_credentials(self) -> Credentials:
        """Made once per data directory: lakeFS keeps the first setup's key, so a restart must reuse it."""
        keys = self.data_dir / "admin.key"
        if not keys.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            # 19 characters: lakeFS's ACL server refuses an access key id longer than 20, and its S3
            # gateway a longer one in V4 signatures.
            access_key_id = "AKIAMLOPS" + secrets.token_hex(5).upper()
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
            *(
                self.s3.config_lines()
                if self.s3
                else ["  type: local", "  local:", f'    path: "{data / "blockstore"}"']
            ),
            "committed:",
            "  local_cache:",
            f'    dir: "{data / "cache"}"',
            "auth:",
            "  encrypt:",
            f'    secret_key: "{self._encrypt_key()}"',
            *(
                [
                    "  api:",
                    f'    endpoint: "{self.acl_endpoint}"',
                    # lakeFS OSS accepts an auth server only with the simplified (ACL) model.
                    "  ui_config:",
                    "    rbac: simplified",
                ]
                if self.acl
                else []
            ),
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
        return _write_private(config, lines)

    def _acl_config(self) -> Path:
        """The ACL server's own configuration: loopback only (it trusts every caller: lakeFS sends
        it a token it does not check), its users in a local KV store of its own, and lakeFS's
        encrypt secret, with which both read the stored credentials."""
        lines = [
            f'listen_address: "127.0.0.1:{self.acl_port}"',
            "database:",
            "  type: local",
            "  local:",
            f'    path: "{self.data_dir / "acl-metadata"}"',
            "encrypt:",
            f'  secret_key: "{self._encrypt_key()}"',
        ]
        return _write_private(self.data_dir / "acl.yaml", lines)

    def _encrypt_key(self) -> str:
        path = self.data_dir / "encrypt.key"
        if not path.exists():
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(secrets.token_hex(32))
        return path.read_text().strip()

    def start(self) -> Self:
        self._check_auth_mode()
        try:
            if self.acl:
                self._acl_process = launch(
                    [self.acl_binary, "run", "--config", self._acl_config()], self.acl_log_path
                )
                self._wait_until(
                    "lakeFS's ACL server", self._acl_process, self._acl_answers, self.acl_log_path
                )
            self._process = launch([self.binary, "run", "--config", self._config()], self.log_path)
            self._wait_until("lakeFS", self._process, self._answers, self.log_path)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until(
        self, name: str, process: subprocess.Popen[bytes], answers: Callable[[], bool], log_path: Path
    ) -> None:
        deadline = time.monotonic() + self.start_seconds
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise StoreError(
                    f"{name} ({process.args[0]}) exited with {process.returncode} while starting; its log: {log_path}"
                )
            if answers():
                return
            time.sleep(0.1)
        raise StoreError(f"{name} did not answer within {self.start_seconds:.0f} s; its log: {log_path}")

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

    def _acl_answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.acl_port}/_health", timeout=2) as answer:
                return answer.status < 300
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def stop(self) -> None:
        """lakeFS, then its ACL server, each by its own process id (SIGTERM, SIGKILL past the bound)."""
        process, self._process = self._process, None
        acl_process, self._acl_process = self._acl_process, None
        terminate(process)
        terminate(acl_process)

    def create_user(self, user_id: str, group: str) -> Credentials:
        """A lakeFS user in one of the ACL server's groups, with a new key, made with the admin's key
        through lakeFS's auth API. The secret is only in the returned credentials (whose repr hides
        it), never in a message or log."""
        if not self.acl:
            raise StoreError(
                "lakeFS's built-in auth allows one user with one key (the admin); start the server with"
                " acl=True for users with less than the admin's rights"
            )
        if group not in ACL_GROUPS:
            raise StoreError(f"unknown lakeFS ACL group {group!r}: expected one of {', '.join(ACL_GROUPS)}")
        configuration = lakefs_sdk.Configuration(
            host=self.endpoint + "/api/v1",
            username=self.admin.access_key_id,
            password=self.admin.secret_access_key,
        )
        failure = None
        with lakefs_sdk.ApiClient(configuration) as client:
            auth = lakefs_sdk.AuthApi(client)
            try:
                auth.create_user(lakefs_sdk.UserCreation(id=user_id), _request_timeout=REQUEST_SECONDS)
                auth.add_group_membership(group, user_id, _request_timeout=REQUEST_SECONDS)
                created = auth.create_credentials(user_id, _request_timeout=REQUEST_SECONDS)
            except lakefs_sdk.ApiException as error:
                # Raised below, outside the except block: the SDK exception's text holds the whole answer.
                failure = f"HTTP {error.status} {error.reason}"
        if failure is not None:
            raise StoreError(
                f"lakeFS at {self.endpoint} could not create user {user_id!r} in {group}: {failure}"
            )
        return Credentials(created.access_key_id, created.secret_access_key)

    def writer_credentials(self, user_id: str) -> Credentials:
        """A Writers user's key, made once per data directory and kept there (owner-only), so a
        server started again on it hands out the same key."""
        keys = self.data_dir / f"{user_id}.key"
        if not keys.exists():
            made = self.create_user(user_id, "Writers")
            _write_private(keys, [made.access_key_id, made.secret_access_key])
        access_key_id, secret = keys.read_text().split()
        return Credentials(access_key_id, secret)


def _write_private(path: Path, lines: list[str]) -> Path:
    """A configuration file holding secrets: owner-only from its creation."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    return path


def launch(argv: list[object], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [str(part) for part in argv],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def terminate(process: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM by its own process id, SIGKILL if it has not gone within the bound."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_SECONDS)
