"""The embedded instance's event log: Dagster's sqlite event log, with connections kept open.

Dagster's ``SqliteEventLogStorage`` creates an engine, opens a connection, runs its statements and
disposes of it all for every operation, and asks for ``has_table`` (one more engine) on every asset
event. An asset materialization is two to four such operations, about 7 ms on this machine, and a
year of daily partitions is thousands of them: the embedded instance spent more time recording a
backfill than running it. This storage is the same files, the same schema and the same queries;
it keeps one engine per database (the index and the few most recent run shards) and writes with
``synchronous=NORMAL``, which in the WAL mode Dagster sets keeps every committed event through a
killed process (only a power loss may drop the last transactions). About 1.4 ms an event.

Batches take 0.2 ms an event. Dagster hands a storage its events in batches (a run's planned
events, the materializations of one output over a partition range) only when
``DAGSTER_EVENT_BATCH_SIZE`` is set in the process that writes them, so this storage sets it (unless
set already) in every process that opens the embedded instance, and writes a batch in one
transaction per database, the index's rows in one statement that returns their ids. The contract
checks record main's versions through Dagster's public ``log_event``, one write each (1.4 ms): the
public API has no batch (benchmarks/README.md, issue 32). A year of raw data and features is about
3,400 events.

It also records a run's status before the event that reports it, not after. Dagster's instance
stores a ``RUN_FAILURE`` event first and only then marks the run failed and tags whether it will be
retried; the daemon that launches retries reads new ``RUN_FAILURE`` events, and one that reads in
between sees a run still started, decides it is not to be retried and moves its cursor past it for
good (seen once in ``tests/test_worker_killed.py``: a run failed by the run monitor, never retried).

Production uses Postgres (``deploy/``); this is for the embedded instance ``prepare-instance``
writes. ``base_dir`` defaults to Dagster's own place for it, ``$DAGSTER_HOME/history/runs``.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import dagster as dg
import sqlalchemy as db
from dagster._core.events import (
    ASSET_CHECK_EVENTS,
    ASSET_EVENTS,
    EVENT_TYPE_TO_PIPELINE_RUN_STATUS,
    RunFailureReason,
)
from dagster._core.events.log import EventLogEntry
from dagster._core.execution.retries import auto_reexecution_should_retry_run
from dagster._core.storage.event_log.schema import SqlEventLogStorageTable
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
)
from dagster._core.storage.tags import RUN_FAILURE_REASON_TAG, WILL_RETRY_TAG
from dagster._serdes import ConfigurableClassData
from dagster._time import datetime_from_timestamp

# Engines kept open: the index, plus the run shards written most recently (a run's steps write
# one shard; a daemon or webserver reads a few).
OPEN_SHARDS = 8

# Events Dagster hands over at once (per batch; a year of three assets is 1,095 planned events).
EVENT_BATCH_SIZE = 1000

# Events mirrored in the index database (as Dagster's SqliteEventLogStorage.store_event does).
_INDEXED_EVENTS = frozenset(ASSET_EVENTS | ASSET_CHECK_EVENTS | set(EVENT_TYPE_TO_PIPELINE_RUN_STATUS))


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """``SqliteEventLogStorage`` with one pooled engine per shard instead of one per statement."""

    def __init__(self, base_dir: str | None = None, inst_data: ConfigurableClassData | None = None):
        self._engines: OrderedDict[str, db.Engine] = OrderedDict()
        self._engines_lock = threading.RLock()
        self._tables: set[str] = set()
        self._pid = os.getpid()
        if base_dir is None:
            base_dir = os.path.join(os.environ["DAGSTER_HOME"], "history", "runs")
        # Dagster batches events (a run's planned events, a range's materializations) only when
        # this is set, and reads it in whichever process writes them; that process has this storage.
        os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", str(EVENT_BATCH_SIZE))
        super().__init__(base_dir, inst_data)

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {"base_dir": dg.Field(dg.StringSource, is_required=False)}

    @classmethod
    def from_config_value(  # ty: ignore[invalid-method-override]
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> PooledSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str) -> db.Engine:
        with self._engines_lock:
            if self._pid != os.getpid():  # a forked child: its parent's connections are not its own
                self._engines, self._pid = OrderedDict(), os.getpid()
            engine = self._engines.get(shard)
            if engine is not None:
                self._engines.move_to_end(shard)
                return engine
            engine = db.create_engine(
                self.conn_string_for_shard(shard),
                pool_size=1,
                max_overflow=4,  # a read (has_table) while a transaction of the same thread is open
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
            )
            db.event.listen(engine, "connect", _write_ahead_normal_sync)
            self._engines[shard] = engine
            while len(self._engines) > OPEN_SHARDS:
                _, oldest = self._engines.popitem(last=False)
                oldest.dispose()
            return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[db.Connection]:
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    @property
    def handles_run_events_in_store_event(self) -> bool:
        return self._owner() is not None  # without an instance, the instance's own order applies

    def store_event(self, event: EventLogEntry) -> None:
        instance = self._owner()
        if instance is not None:
            self._record_run_status(instance, event)
        super().store_event(event)

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        """A batch of events (Dagster's: a run's planned events, the partitions of one output) in
        one transaction per database, and each asset's row updated once per kind of event."""
        instance = self._owner()
        if instance is not None:
            for event in events:
                self._record_run_status(instance, event)
        rows = [self._event_to_row(event) for event in events]
        for run_id in dict.fromkeys(event.run_id for event in events):
            with self.run_connection(run_id) as conn:
                conn.execute(
                    SqlEventLogStorageTable.insert(),
                    [row for row, event in zip(rows, events, strict=True) if event.run_id == run_id],
                )
        indexed = [
            (event, row)
            for event, row in zip(events, rows, strict=True)
            if event.dagster_event_type in _INDEXED_EVENTS
        ]
        if not indexed:
            return
        with self.index_transaction() as conn:
            # One statement for the batch; the ids come back in the rows' order.
            ids = [
                int(event_id)
                for event_id in conn.execute(
                    SqlEventLogStorageTable.insert().returning(
                        SqlEventLogStorageTable.c.id, sort_by_parameter_order=True
                    ),
                    [row for _, row in indexed],
                ).scalars()
            ]
            asset_events = [
                (event, event_id)
                for (event, _), event_id in zip(indexed, ids, strict=True)
                if event.dagster_event_type in ASSET_EVENTS
            ]
            self._store_asset_event_tags(
                conn, [event for event, _ in asset_events], [event_id for _, event_id in asset_events]
            )
            # The asset row holds the last event of each kind: later ones of a batch overwrite
            # earlier ones, so only the last of each kind is written.
            last: dict[tuple[str, Any], tuple[EventLogEntry, int]] = {}
            for event, event_id in asset_events:
                key = (event.get_dagster_event().asset_key.to_string(), event.dagster_event_type)  # ty: ignore[possibly-missing-attribute]
                last.pop(key, None)
                last[key] = (event, event_id)
            for event, event_id in last.values():
                self._store_asset_event(conn, event, event_id)
        for (event, _), event_id in zip(indexed, ids, strict=True):
            if event.dagster_event_type in ASSET_CHECK_EVENTS:
                self.store_asset_check_event(event, event_id)

    def _has_asset_key_index_cols_on_connection(self, conn: db.Connection) -> bool:
        # Asked for every asset event, and a reflection each time; columns are only ever added.
        if "asset_keys.last_materialization_timestamp" in self._tables:
            return True
        found = super()._has_asset_key_index_cols_on_connection(conn)
        if found:
            self._tables.add("asset_keys.last_materialization_timestamp")
        return found

    def _owner(self) -> dg.DagsterInstance | None:
        reference = getattr(self, "_instance_weakref", None)
        return reference() if reference is not None else None

    @staticmethod
    def _record_run_status(instance: dg.DagsterInstance, event: EventLogEntry) -> None:
        """What ``DagsterInstance.handle_new_event`` does for a run event, done before it is stored."""
        dagster_event = event.dagster_event
        if dagster_event is None or not dagster_event.is_job_event:
            return
        instance.run_storage.handle_run_event(
            event.run_id, dagster_event, datetime_from_timestamp(event.timestamp)
        )
        if not (dagster_event.is_run_failure and instance.run_retries_enabled):
            return
        run = instance.get_run_by_id(event.run_id)
        if run is None:
            return
        reason = run.tags.get(RUN_FAILURE_REASON_TAG)
        will_retry = auto_reexecution_should_retry_run(
            instance, run, RunFailureReason(reason) if reason else None
        )
        instance.add_run_tags(run.run_id, {WILL_RETRY_TAG: str(will_retry).lower()})

    def has_table(self, table_name: str) -> bool:
        if table_name in self._tables:  # tables are only ever added (by migrations)
            return True
        engine = self._engine(INDEX_SHARD_NAME)
        with engine.connect() as conn:
            found = bool(engine.dialect.has_table(conn, table_name))
        if found:
            self._tables.add(table_name)
        return found

    def wipe(self) -> None:
        self._close_all()
        super().wipe()

    def upgrade(self) -> None:
        self._close_all()
        self._tables.clear()
        super().upgrade()

    def dispose(self) -> None:
        self._close_all()
        super().dispose()

    def _close_all(self) -> None:
        with self._engines_lock:
            engines, self._engines = list(self._engines.values()), OrderedDict()
        for engine in engines:
            engine.dispose()


def _write_ahead_normal_sync(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
