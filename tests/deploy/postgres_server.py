"""A throwaway PostgreSQL server on 127.0.0.1 for the production instance tests.

It runs from Debian's server binaries (deploy/scripts/ensure_debian_package.sh installs them), in its own
temporary data directory, on a free port, with password authentication, and is stopped by its pid.
Postgres refuses to run as root: as root it runs as the `postgres` user.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import psycopg2
import pytest

from tests.processes import free_port

ENSURE_PACKAGE = Path(__file__).resolve().parents[2] / "deploy" / "scripts" / "ensure_debian_package.sh"
INITDB_GLOB = "/usr/lib/postgresql/*/bin/initdb"
READY_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 30


def postgres_bin_dir() -> Path:
    """The newest installed server's bin directory, installing the server first if we may."""
    if not glob.glob(INITDB_GLOB) and os.geteuid() == 0:
        subprocess.run(["bash", str(ENSURE_PACKAGE), "postgresql", INITDB_GLOB], check=False, timeout=900)
    found = sorted(glob.glob(INITDB_GLOB), key=lambda p: int(Path(p).parents[1].name))
    if not found:
        pytest.fail(
            f"PostgreSQL server binaries ({INITDB_GLOB}) not found: run `make system-deps` "
            f"(or {ENSURE_PACKAGE.relative_to(ENSURE_PACKAGE.parents[2])} postgresql '{INITDB_GLOB}') as root"
        )
    return Path(found[-1]).parent


@dataclass
class PostgresServer:
    port: int
    user: str
    password: str
    base_dir: Path
    process: subprocess.Popen
    log: BinaryIO
    host: str = "127.0.0.1"

    @classmethod
    def start(cls, password: str | None = None) -> PostgresServer:
        bin_dir = postgres_bin_dir()
        as_root = os.geteuid() == 0
        run_as = ["runuser", "-u", "postgres", "--"] if as_root else []
        # Not under pytest's tmp_path: the postgres user must be able to enter this directory.
        base = Path(tempfile.mkdtemp(prefix="mlops-pg-"))
        user, password = "dagster", password or secrets.token_urlsafe(16)
        (base / "pwfile").write_text(password + "\n")
        if as_root:
            for path in (base, base / "pwfile"):
                shutil.chown(path, "postgres", "postgres")
        data = base / "data"
        # Password authentication, as production uses; durability is irrelevant here (--no-sync).
        initdb = [
            *run_as,
            str(bin_dir / "initdb"),
            "-D",
            str(data),
            "-U",
            user,
            f"--pwfile={base / 'pwfile'}",
        ]
        done = subprocess.run(
            [*initdb, "--auth=scram-sha-256", "--encoding=UTF8", "--no-sync"],
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            shutil.rmtree(base, ignore_errors=True)
            pytest.fail(f"initdb failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
        port = free_port()
        log = (base / "postgres.log").open("wb")
        process = subprocess.Popen(
            # TCP on loopback only (no unix socket); durability is irrelevant for a throwaway server.
            [
                *run_as,
                str(bin_dir / "postgres"),
                "-D",
                str(data),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-k",
                "",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        server = cls(port=port, user=user, password=password, base_dir=base, process=process, log=log)
        server._wait_ready()
        return server

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while True:
            if self.process.poll() is not None:
                output = (self.base_dir / "postgres.log").read_text(errors="replace")
                self.stop()
                pytest.fail(f"postgres exited with {self.process.returncode}:\n{output[-3000:]}")
            try:
                self.connect("postgres").close()
                return
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    self.stop()
                    pytest.fail(f"postgres did not accept connections within {READY_TIMEOUT_SECONDS} s")
                time.sleep(0.2)

    def connect(self, dbname: str):
        return psycopg2.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=dbname,
            connect_timeout=5,
        )

    def query(self, dbname: str, sql: str, params: tuple = ()) -> list[tuple]:
        conn = self.connect(dbname)
        try:
            conn.autocommit = True  # CREATE DATABASE cannot run inside a transaction
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def create_database(self, name: str) -> None:
        self.query("postgres", f'CREATE DATABASE "{name}"')

    def stop(self) -> None:
        """Fast shutdown (SIGINT) of the server's process group, SIGKILL if it does not stop in time."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        self.log.close()
        shutil.rmtree(self.base_dir, ignore_errors=True)
