"""Plumbing of the dbt project (dbt_project/): manifest staleness, the dbt executable, where the
marts are written (a DuckDB file, or Postgres through DuckDB's postgres extension), and the lock
that lets one dbt run at a time write them."""

from __future__ import annotations

import fcntl
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from mlops_assets.errors import MlopsError
from mlops_assets.lib.duckdb_extensions import wheel_extension_dir
from mlops_assets.lib.versioned_store import VersionedStore
from mlops_assets.lib.versioned_store.export import MirrorSync, sync_mirror
from mlops_assets.settings import WarehousePgSettings

LOCK_TIMEOUT_S = 1800.0
# The table every dbt writer of the Postgres warehouse locks for its whole run: in a schema only the
# writer role may use (deploy/README.md), so an analyst can neither take it nor queue in front of it.
WAREHOUSE_LOCK_TABLE = "mlops_internal.writer_lock"
# How Postgres reports SQLSTATE 55P03 (lock_not_available) when a statement's lock_timeout expires.
# dbt-duckdb writes through DuckDB's postgres extension, which passes on libpq's message, not the
# SQLSTATE: the text is matched (the server's lc_messages must stay English, Postgres's default).
PG_LOCK_TIMEOUT = re.compile(r"canceling statement due to lock timeout|\b55P03\b|lock_not_available")
# run_results.json statuses of a node that failed (not "skipped": a consequence of another's failure).
DBT_FAILED = frozenset({"error", "fail", "runtime error", "partial success"})
# What profiles.yml reads: each value as var(name), else as environment variable ENV: Dagster's dbt
# asset passes vars, `python -m mlops_assets dbt` the environment (its user may pass --vars).
PROFILE_INPUTS = {
    "published_root": "MLOPS_PUBLISHED_DIR",
    "warehouse_path": "MLOPS_DBT_WAREHOUSE",
    "warehouse_pg": "MLOPS_DBT_WAREHOUSE_PG",
    "extension_dir": "MLOPS_DBT_EXTENSION_DIR",
}

# What dbt parse reads: a manifest older than any of these is stale.
PROJECT_INPUTS = ("dbt_project.yml", "models", "macros", "tests", "analyses")


def manifest_is_stale(project_dir: Path, manifest: Path) -> bool:
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    for name in PROJECT_INPUTS:
        path = project_dir / name
        files = [path] if path.is_file() else (path.rglob("*") if path.is_dir() else [])
        if any(f.is_file() and f.stat().st_mtime > built for f in files):
            return True
    return False


def dbt_executable() -> str:
    """The dbt installed with this interpreter (a venv's bin/ need not be on PATH), else PATH's."""
    beside = Path(sys.executable).parent / "dbt"
    return str(beside) if beside.exists() else "dbt"


@contextmanager
def warehouse_lock(
    warehouse: Path, timeout_s: float = LOCK_TIMEOUT_S, poll_s: float = 0.5
) -> Iterator[float]:
    """Hold the warehouse for one dbt run (DuckDB has a single writer, and the mirror is shared).

    Dagster runs and the CLI take the same lock, so a second run waits instead of failing on
    DuckDB's file lock halfway through. Yields the seconds waited; raises after ``timeout_s``.
    """
    lock_path = warehouse.with_name(warehouse.name + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    with open(lock_path, "w") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() - began > timeout_s:
                    raise MlopsError(
                        f"{warehouse}: another dbt run has held the warehouse for over {timeout_s:.0f} s ({lock_path})"
                    ) from None
                time.sleep(poll_s)
        try:
            yield time.monotonic() - began
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def postgres_warehouse_lock(pg: WarehousePgSettings, timeout_s: float = LOCK_TIMEOUT_S) -> Iterator[float]:
    """Hold the Postgres warehouse for one dbt run: ``WAREHOUSE_LOCK_TABLE`` locked in a transaction.

    Every pod's dbt run takes it, so one writes at a time (readers are never blocked: Postgres
    shows them the old or the new table); a second run queues on the lock for at most
    ``timeout_s``. Only the writer role may lock the table (an advisory key could be taken by any
    analyst). The lock belongs to this connection's transaction, so a pod that dies releases it
    with its connection. Yields the seconds waited; raises after ``timeout_s``.
    """
    import psycopg2  # installed with dagster-postgres; imported when a run writes, not at load
    from psycopg2 import errors

    where = f"Postgres warehouse {pg.host}:{pg.port}/{pg.database}"
    began = time.monotonic()
    try:
        connection = psycopg2.connect(
            host=pg.host,
            port=pg.port,
            dbname=pg.database,
            user=pg.username,
            password=pg.password.get_secret_value(),
            connect_timeout=10,
            # Shows the holder in pg_stat_activity (its lock in pg_locks, on the lock table).
            application_name="mlops_assets dbt writer",
        )
    except psycopg2.OperationalError as exc:  # libpq's message names the server and user, never the password
        raise MlopsError(f"{where}: cannot connect: {exc}") from None
    try:
        with connection.cursor() as cursor:
            # This transaction stays open, idle, for the whole run: no server default may end it.
            cursor.execute("set idle_in_transaction_session_timeout = 0")
            cursor.execute("set local statement_timeout = 0")
            cursor.execute(
                "select set_config('lock_timeout', %s, true)", (f"{max(timeout_s, 0.001) * 1000:.0f}",)
            )
            try:
                cursor.execute(f"lock table {WAREHOUSE_LOCK_TABLE} in exclusive mode")
            except errors.LockNotAvailable:
                raise MlopsError(
                    f"{where}: another dbt run has held {WAREHOUSE_LOCK_TABLE} for over {timeout_s:.0f} s "
                    "(its session shows in pg_stat_activity as application 'mlops_assets dbt writer')"
                ) from None
            except (errors.UndefinedTable, errors.InvalidSchemaName, errors.InsufficientPrivilege) as exc:
                raise MlopsError(
                    f"{where}: user {pg.username} cannot lock {WAREHOUSE_LOCK_TABLE} ({exc.diag.message_primary}): "
                    "set the database up as deploy/README.md says (The analysts' warehouse)"
                ) from None
            yield time.monotonic() - began
    finally:
        connection.close()  # ends the transaction, and with it the lock


def lock_timeout_failures(run_results: Mapping) -> list[str]:
    """The dbt nodes of a failed run (its run_results.json) that Postgres cancelled on
    ``lock_timeout``: all its failed nodes, when each failed that way; else none (any other failure
    is not one a retry would mend)."""
    failed = [r for r in run_results.get("results", []) if r.get("status") in DBT_FAILED]
    if not failed or not all(PG_LOCK_TIMEOUT.search(r.get("message") or "") for r in failed):
        return []
    return [r["unique_id"].rsplit(".", 1)[-1] for r in failed]


def postgres_extension_dir(directory: Path) -> Path:
    """A DuckDB extension directory holding the postgres extension, installed from its wheel."""
    return wheel_extension_dir(directory, "postgres_scanner", "duckdb_extension_postgres")


def _passfile_line(pg: WarehousePgSettings) -> str:
    """A libpq passfile entry (host:port:database:user:password, with : and \\ escaped)."""
    fields = [pg.host, str(pg.port), pg.database, pg.username, pg.password.get_secret_value()]
    return ":".join(f.replace("\\", "\\\\").replace(":", "\\:") for f in fields) + "\n"


@dataclass(frozen=True)
class DbtWarehouse:
    """Where a dbt run writes the marts: the DuckDB file ``path``, or (``pg`` set) Postgres.

    With Postgres, ``path`` is the run's own DuckDB database: it holds only the staging views over
    the Parquet mirror (``published_dir``), rebuilt by every run, since a new pod starts empty.
    """

    path: Path
    published_dir: Path
    pg: WarehousePgSettings | None = None

    @property
    def target(self) -> str:
        """The target of dbt_project/profiles.yml."""
        return "prod" if self.pg else "local"

    def describe(self) -> str:
        if self.pg:
            return f"Postgres {self.pg.host}:{self.pg.port}/{self.pg.database}"
        return str(self.path)

    def lock(self) -> AbstractContextManager[float]:
        """One dbt writer at a time: a table lock in Postgres (across pods), else a file lock."""
        return postgres_warehouse_lock(self.pg) if self.pg else warehouse_lock(self.path)


@dataclass(frozen=True)
class DbtRun:
    """A dbt run holding the warehouse: what it reads, and what dbt must be given."""

    mirror: MirrorSync
    waited_s: float
    target: str
    profile_vars: dict[str, str]  # no secret: the password is in a passfile only libpq reads

    def environment(self) -> dict[str, str]:
        """``profile_vars`` as the environment variables profiles.yml falls back to, and the target."""
        return {
            "MLOPS_DBT_TARGET": self.target,
            **{PROFILE_INPUTS[name]: value for name, value in self.profile_vars.items()},
        }


def _timestamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@contextmanager
def dbt_run(store: VersionedStore, warehouse: DbtWarehouse, project_dir: Path, log=print) -> Iterator[DbtRun]:
    """What every dbt run does first (Dagster's and the CLI's): hold the warehouse, sync the mirror
    of main it reads and, with Postgres, recreate the staging views in this run's DuckDB.

    ``log`` receives when the warehouse was taken (after how long a wait) and released.
    """
    with warehouse.lock() as waited_s:
        log(
            f"holding the warehouse ({warehouse.describe()}) since {_timestamp()}, after waiting {waited_s:.1f} s"
        )
        try:
            mirror = sync_mirror(store, warehouse.published_dir)
            profile_vars = {
                "published_root": str(warehouse.published_dir),
                "warehouse_path": str(warehouse.path),
            }
            if warehouse.pg is None:
                yield DbtRun(mirror, waited_s, warehouse.target, profile_vars)
                return
            warehouse.path.parent.mkdir(parents=True, exist_ok=True)
            extension_dir = postgres_extension_dir(warehouse.path.parent / "extensions")
            # The password reaches libpq through a private passfile: never on a command line, in the
            # attach string (DuckDB quotes it in connection errors) or in dbt's logs.
            handle, passfile = tempfile.mkstemp(prefix="pgpass-", dir=warehouse.path.parent)
            try:
                with os.fdopen(handle, "w") as out:  # mkstemp made it 0600, as libpq requires
                    out.write(_passfile_line(warehouse.pg))
                pg = warehouse.pg
                profile_vars |= {
                    "warehouse_pg": (
                        f"host={pg.host} port={pg.port} dbname={pg.database} user={pg.username} passfile={passfile}"
                    ),
                    "extension_dir": str(extension_dir),
                }
                run = DbtRun(mirror, waited_s, warehouse.target, profile_vars)
                _create_staging_views(run, project_dir, warehouse.path.parent / "staging-target")
                yield run
            finally:
                Path(passfile).unlink(missing_ok=True)
        finally:
            log(f"released the warehouse ({warehouse.describe()}) at {_timestamp()}")


def _create_staging_views(run: DbtRun, project_dir: Path, target_path: Path) -> None:
    """The marts read staging views this run's (new, empty) DuckDB lacks: create them first, so a
    run that selects only marts works too."""
    command = [
        dbt_executable(),
        "run",
        "--quiet",
        "--select",
        "staging",
        "--target",
        run.target,
        "--vars",
        json.dumps(run.profile_vars),
        "--profiles-dir",
        str(project_dir),
        "--target-path",
        str(target_path),
        "--log-path",
        str(target_path),
    ]
    done = subprocess.run(command, cwd=project_dir, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise MlopsError(
            f"dbt could not create the staging views in {run.profile_vars['warehouse_path']} "
            f"(`dbt run --select staging` in {project_dir}):\n{(done.stdout + done.stderr)[-3000:]}"
        )
