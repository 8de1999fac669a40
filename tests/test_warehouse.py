"""The analysts' warehouse in Postgres: marts that outlive the pods that build them.

A real PostgreSQL server is set up as deploy/README.md says (writer role, marts schema, read-only
analyst role). "Pods" are dbt runs with their own empty MLOPS_HOME over one shared store: two CLI
runs started at once (`python -m mlops_assets dbt build`, days 1 and 2), then a Dagster run of
`dbt_marts` (days 2..3, after day 3 and a new model version are published) while an analyst reads
the marts. The published tables are small synthetic ones that satisfy the project's dbt tests.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import dagster as dg
import polars as pl
import psycopg2
import pytest

from mlops_assets.definitions import build_definitions
from mlops_assets.errors import MlopsError
from mlops_assets.lib.analytics import WAREHOUSE_LOCK_TABLE, postgres_warehouse_lock
from mlops_assets.lib.versioned_store import LocalStore
from mlops_assets.lib.versioned_store.wap import encode_table, table_path
from mlops_assets.settings import WarehousePgSettings, load_settings
from tests.conftest import PROJECT_ROOT, QUIET, RANGE_END, RANGE_START, failure_text
from tests.deploy.postgres_server import PostgresServer

DAYS = [date(2013, 1, 1), date(2013, 1, 2), date(2013, 1, 3)]
SPEC = "late_arrival"
CARRIERS = {"AA": "American Airlines Inc.", "UA": "United Air Lines Inc."}
DATABASE = "mlops_warehouse"
ANALYST = "analyst"
# The SQL deploy/README.md gives the administrator, run here as written (passwords replaced).
SETUP_SQL = re.search(r"```sql\n(.*?)```", (PROJECT_ROOT / "deploy" / "README.md").read_text(), re.S)[1]
HOLDING = re.compile(r"holding the warehouse \(.*\) since (\S+), after waiting ([\d.]+) s")
RELEASED = re.compile(r"released the warehouse \(.*\) at (\S+)")


def flights(day: date) -> pl.DataFrame:
    n = 6 + day.day  # a different number of flights each day
    return pl.DataFrame(
        {
            "year": [day.year] * n,
            "month": [day.month] * n,
            "day": [day.day] * n,
            "carrier": [list(CARRIERS)[i % 2] for i in range(n)],
            "flight": list(range(100, 100 + n)),
            "origin": ["JFK"] * n,
            "dest": ["BOS"] * n,
            "hour": [8 + i for i in range(n)],
            "arr_delay": [float(i * 5 - 10) for i in range(n)],
            "dep_time": [800 + i for i in range(n)],
        }
    )


def publish(store: LocalStore, days: list[date], versions: int) -> None:
    """Publish on main what dbt reads: dimensions, ``versions`` model versions, and each day's
    flights, features, predictions (by the newest version) and monitoring report."""
    one = {
        "model_name": SPEC,
        "training_commit": "c0",
        "train_start": date(2012, 12, 1),
        "train_end": date(2012, 12, 20),
        "holdout_start": date(2012, 12, 21),
        "holdout_end": date(2012, 12, 31),
        "train_rows": 100,
        "holdout_rows": 20,
        "metric": "accuracy",
        "holdout_score": 0.8,
        "spec_hash": "h",
        "code_version": "1",
        "git_sha": "g",
        "trained_at": 1.7e9,
        "task": "classification",
        "target": "arr_delay >= 15",
        "trigger": "initial",
        "retrain_reason": None,
    }
    model_versions = [{**one, "model_version": v, "run_id": f"run{v}"} for v in range(1, versions + 1)]
    objects = {
        table_path(["raw", "airlines"], None): pl.DataFrame(
            {"carrier": list(CARRIERS), "name": list(CARRIERS.values())}
        ),
        table_path(["models", SPEC], None): pl.DataFrame(
            model_versions, schema_overrides={"retrain_reason": pl.String}
        ),
    }
    for day in days:
        raw = flights(day)
        ids = [
            f"{day}-{carrier}{number}-JFK"
            for carrier, number in zip(raw["carrier"], raw["flight"], strict=True)
        ]
        n, partition = len(ids), day.isoformat()
        objects[table_path(["raw", "flights"], partition)] = raw
        objects[table_path(["features", "flight_features"], partition)] = raw.select(
            pl.Series("flight_id", ids),
            pl.lit(day).alias("date"),
            "carrier",
            "origin",
            "dest",
            sched_dep_hour="hour",
        )
        objects[table_path(["predictions", SPEC], partition)] = pl.DataFrame(
            {"model_name": SPEC, "date": day, "flight_id": ids, "model_version": versions, "score": 0.5}
        ).with_columns(prediction=pl.lit(1.0))
        objects[table_path(["monitoring", SPEC, "daily_report"], partition)] = pl.DataFrame(
            {
                "date": [day] * 2,
                "spec": SPEC,
                "model_version": versions,
                "metric": ["rows_scored", "psi"],
                "feature": [None, "sched_dep_hour"],
                "value": [float(n), 0.01],
                "threshold": [None, 0.2],
                "status": ["info", "ok"],
            },
            schema_overrides={"feature": pl.String, "threshold": pl.Float64},
        )
    for path, frame in objects.items():
        store.write_object("main", path, encode_table(frame))
    store.commit("main", f"publish {[d.isoformat() for d in days]}")


def flights_until(last: date) -> int:
    return sum(len(flights(day)) for day in DAYS if day <= last)


@dataclass
class Warehouse:
    server: PostgresServer
    writer_password: str
    analyst_password: str
    store_dir: Path
    outputs: list[str] = field(default_factory=list)  # everything the runs printed or logged

    def environ(self, home: Path) -> dict[str, str]:
        """A pod's settings: its own empty home, the shared store, the Postgres warehouse."""
        return {
            "MLOPS_HOME": str(home),
            "MLOPS_STORE_DIR": str(self.store_dir),
            "MLOPS_WAREHOUSE_PG_HOST": self.server.host,
            "MLOPS_WAREHOUSE_PG_PORT": str(self.server.port),
            "MLOPS_WAREHOUSE_PG_DB": DATABASE,
            "MLOPS_WAREHOUSE_PG_USERNAME": "mlops_dbt",
            "MLOPS_WAREHOUSE_PG_PASSWORD": self.writer_password,
        }

    def writer_settings(self, home: Path) -> WarehousePgSettings:
        return load_settings(self.environ(home)).warehouse_pg

    def connect(self, user: str, password: str):
        connection = psycopg2.connect(
            host=self.server.host,
            port=self.server.port,
            dbname=DATABASE,
            user=user,
            password=password,
            connect_timeout=5,
        )
        connection.autocommit = True
        return connection

    def analyst(self):
        return self.connect(ANALYST, self.analyst_password)

    def read(self, sql: str) -> list[tuple]:
        connection = self.analyst()
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql)
                return cursor.fetchall()
        finally:
            connection.close()


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Warehouse:
    server = PostgresServer.start()
    try:
        server.create_database(DATABASE)
        found = Warehouse(server, secrets.token_urlsafe(16), secrets.token_urlsafe(16), Path())
        sql = SETUP_SQL.replace("dbt-writer-password", found.writer_password).replace(
            "analyst-password", found.analyst_password
        )
        server.query(DATABASE, sql)
        found.store_dir = tmp_path_factory.mktemp("store") / "store"
        store = LocalStore(found.store_dir)
        store.ensure_repository()
        publish(store, DAYS[:2], versions=1)
        yield found
    finally:
        server.stop()


@dataclass(frozen=True)
class PodRun:
    home: Path
    returncode: int
    output: str
    held_from: datetime
    held_to: datetime
    waited_s: float


def cli_pods(
    warehouse: Warehouse, homes: list[Path], windows: list[date], timeout_s: float = 300
) -> list[PodRun]:
    """`python -m mlops_assets dbt build --select marts` for one day each, in every home, all
    started at once."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "DBT_", "LAKEFS_"))}
    started = []
    for home, day in zip(homes, windows, strict=True):
        env = {
            **inherited,
            **warehouse.environ(home),
            # dbt's artifacts and logs in the pod's home, as a pod's own filesystem would hold them.
            "DBT_TARGET_PATH": str(home / "dbt-target"),
            "DBT_LOG_PATH": str(home / "dbt-target"),
        }
        window = json.dumps({"min_date": day.isoformat(), "max_date": day.isoformat()})
        # Marts only: the staging views they read must be created first in the pod's empty DuckDB.
        command = [
            sys.executable,
            "-m",
            "mlops_assets",
            "dbt",
            "build",
            "--select",
            "marts",
            "--vars",
            window,
        ]
        started.append(
            subprocess.Popen(
                command,
                cwd=PROJECT_ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    runs = []
    for home, process in zip(homes, started, strict=True):
        output, _ = process.communicate(timeout=timeout_s)
        warehouse.outputs.append(output)
        holding, released = HOLDING.search(output), RELEASED.search(output)
        assert holding and released, output[-3000:]
        runs.append(
            PodRun(
                home,
                process.returncode,
                output,
                datetime.fromisoformat(holding[1]),
                datetime.fromisoformat(released[1]),
                float(holding[2]),
            )
        )
    return runs


@pytest.fixture(scope="module")
def first_two_days(warehouse, tmp_path_factory) -> list[PodRun]:
    homes = [tmp_path_factory.mktemp(f"pod_{name}") / "mlops" for name in ("a", "b")]
    return cli_pods(warehouse, homes, DAYS[:2])


@dataclass(frozen=True)
class DagsterDbtRun:
    result: dg.ExecuteInProcessResult
    events: list  # every event of the run, in order
    messages: list[str]  # every message the run logged


def dagster_dbt_run(
    warehouse: Warehouse, home: Path, first: date, last: date | None = None, **environ: str
) -> DagsterDbtRun:
    """The job `dbt_marts` for days ``first``..``last`` in a new pod's ``home`` (more settings in
    ``environ``), in process: step retries included."""
    settings = load_settings({**warehouse.environ(home), **environ})
    with dg.instance_for_test() as instance:
        result = (
            build_definitions(settings)
            .resolve_job_def("dbt_marts")
            .execute_in_process(
                instance=instance,
                tags={RANGE_START: first.isoformat(), RANGE_END: (last or first).isoformat()},
                run_config=QUIET,
                raise_on_error=False,
            )
        )
        logs = instance.all_logs(result.run_id)
    return DagsterDbtRun(
        result, [e.dagster_event for e in logs if e.dagster_event], [e.user_message for e in logs]
    )


@dataclass(frozen=True)
class ReadWhileWriting:
    home: Path
    before: tuple
    after: tuple
    seen: set[tuple]
    reads: int
    errors: list[str]


@pytest.fixture(scope="module")
def third_day(warehouse, first_two_days, tmp_path_factory) -> ReadWhileWriting:
    """Day 3 and a second model version are published; a Dagster run of dbt_marts in a new, empty
    home rebuilds days 2..3 while an analyst reads the marts in a loop."""
    publish(LocalStore(warehouse.store_dir), DAYS[2:], versions=2)
    sql = (
        "select (select sum(n_predictions) from marts.fct_model_daily_performance),"
        " (select count(*) from marts.dim_model_versions)"
    )
    before = warehouse.read(sql)[0]
    seen, errors, reads, stop = set(), [], 0, threading.Event()

    def analyst() -> None:
        nonlocal reads
        connection = warehouse.analyst()
        while not stop.is_set():
            try:
                with connection.cursor() as cursor:
                    cursor.execute(sql)
                    seen.add(cursor.fetchone())
                reads += 1
            except psycopg2.Error as exc:
                errors.append(str(exc))
            time.sleep(0.01)
        connection.close()

    reader = threading.Thread(target=analyst)
    reader.start()
    try:
        home = tmp_path_factory.mktemp("pod_c") / "mlops"
        run = dagster_dbt_run(warehouse, home, DAYS[1], DAYS[2])
        assert run.result.success, failure_text(run.result)
        warehouse.outputs.extend(run.messages)
        for folder in (PROJECT_ROOT / "dbt_project" / "target").glob(f"*-{run.result.run_id[:7]}-*"):
            warehouse.outputs.extend(p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file())
    finally:
        time.sleep(0.2)
        stop.set()
        reader.join()
    return ReadWhileWriting(home, before, warehouse.read(sql)[0], seen, reads, errors)


def test_marts_built_by_two_pods_hold_both_days(warehouse, first_two_days):
    assert [run.returncode for run in first_two_days] == [0, 0], first_two_days[-1].output[-3000:]
    # Each pod started empty and kept nothing that matters: the marts are in Postgres.
    daily = warehouse.read(
        "select date, sum(n_predictions), sum(n_labelled) from marts.fct_model_daily_performance group by date"
    )
    assert {row[0]: row[1] for row in daily} == {day: len(flights(day)) for day in DAYS[:2]}
    by_group = warehouse.read(
        "select date, sum(n_predictions) from marts.fct_predictions_vs_actuals group by date"
    )
    assert dict(by_group) == {day: len(flights(day)) for day in DAYS[:2]}
    health = warehouse.read("select date, rows_scored from marts.fct_model_health order by date")
    assert health == [(day, float(len(flights(day)))) for day in DAYS[:2]]
    drift = warehouse.read("select date, feature, status from marts.fct_drift_history order by date")
    assert drift == [(day, "sched_dep_hour", "ok") for day in DAYS[:2]]
    assert warehouse.read("select version_key, days_served from marts.dim_model_versions") == [
        (f"{SPEC}:v1", 2)
    ]
    # The staging views stayed in each pod's DuckDB: only marts reach Postgres.
    schemas = warehouse.server.query(
        DATABASE, "select distinct schemaname from pg_tables where schemaname !~ '^(pg_|information_schema)'"
    )
    assert sorted(schemas) == [("marts",), ("mlops_internal",)]  # the writers' lock table


def test_two_dbt_runs_at_once_take_the_warehouse_in_turn(first_two_days):
    first, second = sorted(first_two_days, key=lambda run: run.held_from)
    assert first.held_to <= second.held_from, (first.held_to, second.held_from)
    # The second one waited for the first to release the advisory lock, and said so.
    assert second.waited_s >= (first.held_to - first.held_from).total_seconds() * 0.5
    assert second.waited_s > 1, second.output[:2000]


def test_an_analyst_reads_the_old_or_the_new_marts_while_dbt_writes_them(third_day):
    old = (flights_until(DAYS[1]), 1)
    new = (flights_until(DAYS[2]), 2)
    assert third_day.before == old and third_day.after == new
    assert third_day.errors == []
    assert third_day.reads > 10 and {old, new} <= third_day.seen  # it read before, during and after
    # Each table is replaced in one transaction: never a window deleted but not yet inserted.
    assert {total for total, _ in third_day.seen} <= {old[0], new[0]}, third_day.seen
    assert {versions for _, versions in third_day.seen} <= {old[1], new[1]}, third_day.seen


def test_the_password_appears_in_no_log_output_or_file(warehouse, first_two_days, third_day):
    assert len(warehouse.outputs) > 3
    for text in warehouse.outputs:
        assert warehouse.writer_password not in text
    for home in [run.home for run in first_two_days] + [third_day.home]:
        # dbt's own logs and artifacts, and whatever else the pod wrote (its passfile is gone).
        files = [p for p in home.rglob("*") if p.is_file() and p.stat().st_size < 50_000_000]
        assert any(p.name == "dbt.log" for p in files)
        assert not [p for p in files if warehouse.writer_password.encode() in p.read_bytes()]


# The advisory key every dbt writer took before the writers' lock became a table only they may lock.
FORMER_ADVISORY_KEY = 0x6D6C6F7073646274


def test_an_analyst_can_neither_take_nor_block_the_writers_lock(warehouse, tmp_path):
    pg = warehouse.writer_settings(tmp_path / "mlops")
    analyst = warehouse.analyst()
    try:
        with analyst.cursor() as cursor:
            cursor.execute("select pg_advisory_lock(%s)", (FORMER_ADVISORY_KEY,))
            analyst.autocommit = False
            for mode in ("access share", "row share", "exclusive"):
                # Read-write, so that only the missing privilege can refuse it.
                cursor.execute("set transaction read write")
                with pytest.raises(psycopg2.errors.InsufficientPrivilege, match="mlops_internal"):
                    cursor.execute(f"lock table {WAREHOUSE_LOCK_TABLE} in {mode} mode")
                analyst.rollback()
        # The analyst still holds the former key: a writer takes the warehouse at once.
        with postgres_warehouse_lock(pg, timeout_s=5) as waited_s:
            assert waited_s < 5
    finally:
        analyst.close()


def test_a_second_writer_waits_then_fails_with_one_clear_error(warehouse, tmp_path):
    pg = warehouse.writer_settings(tmp_path / "mlops")
    with postgres_warehouse_lock(pg):
        # Held for the whole run in an idle transaction, which keeps no snapshot or xid from vacuum.
        holder = warehouse.server.query(
            DATABASE,
            "select state, backend_xid, backend_xmin from pg_stat_activity"
            " where application_name = 'mlops_assets dbt writer'",
        )
        assert holder == [("idle in transaction", None, None)]
        began = time.monotonic()
        with (
            pytest.raises(MlopsError, match=f"another dbt run has held {WAREHOUSE_LOCK_TABLE} for over 2 s"),
            postgres_warehouse_lock(pg, timeout_s=2),
        ):
            pass
        assert 2 <= time.monotonic() - began < 10
    with postgres_warehouse_lock(pg, timeout_s=2) as waited_s:  # released with its connection
        assert waited_s < 2


def test_only_the_granted_roles_connect_and_no_one_creates_temporary_tables(warehouse):
    password = secrets.token_urlsafe(16)
    warehouse.server.query("postgres", "create role intruder login password %s", (password,))
    with pytest.raises(psycopg2.OperationalError, match=f'permission denied for database "{DATABASE}"'):
        warehouse.connect("intruder", password)
    analyst = warehouse.analyst()
    try:
        with analyst.cursor() as cursor:
            cursor.execute("set default_transaction_read_only = off")  # any analyst may
            with pytest.raises(psycopg2.errors.InsufficientPrivilege, match="temporary tables"):
                cursor.execute("create temporary table scratch (x int)")
    finally:
        analyst.close()


def test_every_session_has_its_documented_timeouts(warehouse):
    analyst = warehouse.analyst()
    try:
        with analyst.cursor() as cursor:
            cursor.execute(
                "select current_setting('statement_timeout'), current_setting('idle_in_transaction_session_timeout')"
            )
            assert cursor.fetchone() == ("2min", "1min")
    finally:
        analyst.close()
    writer = warehouse.connect("mlops_dbt", warehouse.writer_password)
    try:
        with writer.cursor() as cursor:
            cursor.execute(
                "select current_setting('lock_timeout'), current_setting('statement_timeout'),"
                " current_setting('idle_in_transaction_session_timeout')"
            )
            # Longer than any analyst's statement or idle transaction: the writer outwaits them.
            assert cursor.fetchone() == ("3min", "30min", "0")
    finally:
        writer.close()


def test_an_analyst_idle_in_a_transaction_is_cut_off_and_the_dbt_run_completes(
    warehouse, third_day, tmp_path_factory
):
    idle = warehouse.analyst()
    idle.autocommit = False
    pid = idle.get_backend_pid()
    with idle.cursor() as cursor:  # holds its lock on the mart until the transaction ends
        cursor.execute("select count(*) from marts.dim_model_versions")
    (run,) = cli_pods(warehouse, [tmp_path_factory.mktemp("pod_d") / "mlops"], DAYS[2:], timeout_s=240)
    assert run.returncode == 0, run.output[-3000:]
    # It replaced the mart only once the analyst's idle transaction was cut off (1 minute).
    assert (run.held_to - run.held_from).total_seconds() > 30, run.output[-3000:]
    with pytest.raises(psycopg2.OperationalError), idle.cursor() as cursor:
        cursor.execute("select 1")
    # libpq reports only a closed connection: the server's log says why.
    log = (warehouse.server.base_dir / "postgres.log").read_text(errors="replace")
    assert f"[{pid}] FATAL:  terminating connection due to idle-in-transaction timeout" in log
    idle.close()
    assert warehouse.read("select count(*) from marts.dim_model_versions") == [(2,)]


# A statement the writer role waits on longer than this is cancelled (production: 3 minutes).
SHORT_LOCK_TIMEOUT_S = 2
PG_LOCK_TIMEOUT = "canceling statement due to lock timeout"


@pytest.fixture
def short_lock_timeout(warehouse):
    """The writer role's lock_timeout shortened in the warehouse database (for this test only)."""
    setting = f"alter role mlops_dbt in database {DATABASE}"
    warehouse.server.query("postgres", f"{setting} set lock_timeout = '{SHORT_LOCK_TIMEOUT_S}s'")
    yield SHORT_LOCK_TIMEOUT_S
    warehouse.server.query("postgres", f"{setting} reset lock_timeout")


def analyst_reading(warehouse: Warehouse, table: str):
    """An analyst who switched their own timeouts off, in a transaction that has read ``table``:
    it holds a lock dbt's replacement of the table conflicts with, until it ends."""
    connection = warehouse.analyst()
    connection.autocommit = False
    with connection.cursor() as cursor:
        cursor.execute("set idle_in_transaction_session_timeout = 0")
        cursor.execute("set statement_timeout = 0")
        cursor.execute(f"select count(*) from {table}")
    return connection


def lock_timeouts_logged(warehouse: Warehouse) -> int:
    """How many statements Postgres has cancelled on lock_timeout so far (its log says each)."""
    return (warehouse.server.base_dir / "postgres.log").read_text(errors="replace").count(PG_LOCK_TIMEOUT)


def step_events(run: DagsterDbtRun, kind: dg.DagsterEventType) -> list:
    return [e for e in run.events if e.event_type == kind]


def leftover_relations(warehouse: Warehouse) -> list[tuple]:
    """dbt's intermediate and backup tables: none remain after a run that was rolled back."""
    return warehouse.server.query(
        DATABASE, "select tablename from pg_tables where schemaname = 'marts' and tablename ~ '__dbt_'"
    )


def test_a_dbt_step_cancelled_on_an_analysts_lock_is_retried_and_succeeds(
    warehouse, third_day, short_lock_timeout, tmp_path
):
    analyst = analyst_reading(warehouse, "marts.dim_model_versions")
    cancelled_before = lock_timeouts_logged(warehouse)
    released = threading.Event()

    def release_after_the_first_cancellation() -> None:
        deadline = time.monotonic() + 300
        while lock_timeouts_logged(warehouse) == cancelled_before and time.monotonic() < deadline:
            time.sleep(0.2)
        analyst.commit()  # the analyst's transaction ends: its lock is released
        released.set()

    releaser = threading.Thread(target=release_after_the_first_cancellation)
    releaser.start()
    try:
        run = dagster_dbt_run(
            warehouse,
            tmp_path / "mlops",
            DAYS[2],
            MLOPS_DBT_LOCK_RETRIES="2",
            MLOPS_DBT_LOCK_RETRY_WAIT_S="1",
        )
    finally:
        releaser.join()
        analyst.close()
    assert released.is_set()
    assert run.result.success, failure_text(run.result)
    # The first attempt was cancelled on the lock and asked for a retry; the second succeeded.
    (retry,) = step_events(run, dg.DagsterEventType.STEP_UP_FOR_RETRY)
    assert retry.event_specific_data.seconds_to_wait == 1
    assert len(step_events(run, dg.DagsterEventType.STEP_RESTARTED)) == 1
    assert not step_events(run, dg.DagsterEventType.STEP_FAILURE)
    said = [m for m in run.messages if "retrying in" in m]
    assert len(said) == 1, said
    assert "dim_model_versions" in said[0] and "lock_timeout" in said[0] and "held by someone else" in said[0]
    assert "attempt 1 of at most 3 failed" in said[0]
    assert all(warehouse.writer_password not in m for m in run.messages)
    materialized = {e.asset_key.path[-1] for e in step_events(run, dg.DagsterEventType.ASSET_MATERIALIZATION)}
    assert "dim_model_versions" in materialized
    assert leftover_relations(warehouse) == []


def test_a_dbt_step_that_fails_otherwise_is_not_retried(warehouse, third_day, short_lock_timeout, tmp_path):
    broken = tmp_path / "dbt_project"
    shutil.copytree(PROJECT_ROOT / "dbt_project", broken, ignore=shutil.ignore_patterns("target", "logs"))
    model = broken / "models" / "marts" / "dim_model_versions.sql"
    model.write_text(model.read_text() + "\nwhere no_such_column > 0\n")  # a SQL error
    run = dagster_dbt_run(
        warehouse,
        tmp_path / "mlops",
        DAYS[2],
        MLOPS_DBT_PROJECT_DIR=str(broken),
        MLOPS_DBT_LOCK_RETRIES="2",
        MLOPS_DBT_LOCK_RETRY_WAIT_S="1",
    )
    assert not run.result.success
    assert not step_events(run, dg.DagsterEventType.STEP_UP_FOR_RETRY)
    assert "no_such_column" in failure_text(run.result)
    assert not [m for m in run.messages if "retrying in" in m]


def test_retries_of_a_lock_never_released_are_bounded(warehouse, third_day, short_lock_timeout, tmp_path):
    analyst = analyst_reading(warehouse, "marts.dim_model_versions")
    try:
        began = time.monotonic()
        run = dagster_dbt_run(
            warehouse,
            tmp_path / "mlops",
            DAYS[2],
            MLOPS_DBT_LOCK_RETRIES="1",
            MLOPS_DBT_LOCK_RETRY_WAIT_S="1",
        )
        took_s = time.monotonic() - began
        # Until the end, the analyst reads the marts as they were: every attempt was rolled back.
        with analyst.cursor() as cursor:
            cursor.execute("select count(*) from marts.dim_model_versions")
            assert cursor.fetchone() == (2,)
    finally:
        analyst.close()
    assert not run.result.success
    assert len(step_events(run, dg.DagsterEventType.STEP_UP_FOR_RETRY)) == 1
    (failure,) = step_events(run, dg.DagsterEventType.STEP_FAILURE)
    chain, error = [], failure.step_failure_data.error
    while error is not None:  # Dagster's step error, caused by ours, caused by dbt's
        chain.append(error)
        error = error.cause
    (error,) = [e for e in chain if e.cls_name == "WarehouseLockTimeout"]
    assert "lock_timeout" in error.message and "gave up after 2 attempts" in error.message, error.message
    assert "MLOPS_DBT_LOCK_RETRIES=1" in error.message
    assert PG_LOCK_TIMEOUT in failure_text(run.result)  # dbt's own error, as the cause
    assert took_s < 300
    assert leftover_relations(warehouse) == []
