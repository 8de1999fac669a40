"""Dagster's internals stay in ``mlops_assets/embedded/``, and the ones it uses are still there.

``embedded/`` (the embedded sqlite instance's event log, run launcher and step preload) is the only
code that touches ``dagster._...``. Dagster may change its internals in any release: each name and
signature ``embedded/`` relies on is listed here, and a change fails this test with the installed
Dagster version and the module that needs a look, not a run that breaks later.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "mlops_assets"
EMBEDDED = PACKAGE / "embedded"

# module -> the names ``embedded/`` imports from it
INTERNAL_NAMES = {
    "dagster._core.events": [
        "ASSET_CHECK_EVENTS",
        "ASSET_EVENTS",
        "EVENT_TYPE_TO_PIPELINE_RUN_STATUS",
        "RunFailureReason",
    ],
    "dagster._core.events.log": ["EventLogEntry"],
    "dagster._core.execution.retries": ["auto_reexecution_should_retry_run"],
    "dagster._core.storage.event_log.schema": ["SqlEventLogStorageTable"],
    "dagster._core.storage.event_log.sqlite.sqlite_event_log": [
        "INDEX_SHARD_NAME",
        "SQLITE_BUSY_TIMEOUT_SECONDS",
        "SqliteEventLogStorage",
    ],
    "dagster._core.storage.tags": ["RUN_FAILURE_REASON_TAG", "WILL_RETRY_TAG"],
    "dagster._serdes": ["ConfigurableClassData"],
    "dagster._time": ["datetime_from_timestamp"],
    "dagster._core.launcher": ["CheckRunHealthResult", "WorkerStatus"],
    "dagster._core.instance.ref": ["InstanceRef"],
    "dagster._core.storage.base_storage": [],
}

# (module, qualified name) -> the parameters ``embedded/`` calls it with or overrides it with (the
# leading ones; parameters Dagster adds after them must have defaults)
INTERNAL_SIGNATURES = {
    ("dagster._core.storage.event_log.sqlite.sqlite_event_log", "SqliteEventLogStorage.__init__"): [
        "self",
        "base_dir",
        "inst_data",
    ],
    ("dagster._core.storage.event_log.sqlite.sqlite_event_log", "SqliteEventLogStorage._connect"): [
        "self",
        "shard",
    ],
    ("dagster._core.storage.event_log.sqlite.sqlite_event_log", "SqliteEventLogStorage._initdb"): [
        "self",
        "engine",
    ],
    (
        "dagster._core.storage.event_log.sqlite.sqlite_event_log",
        "SqliteEventLogStorage.conn_string_for_shard",
    ): ["self", "shard_name"],
    ("dagster._core.storage.event_log.sqlite.sqlite_event_log", "SqliteEventLogStorage.run_connection"): [
        "self",
        "run_id",
    ],
    ("dagster._core.storage.event_log.sqlite.sqlite_event_log", "SqliteEventLogStorage.index_transaction"): [
        "self"
    ],
    ("dagster._core.storage.event_log.sqlite.sqlite_event_log", "SqliteEventLogStorage.store_event"): [
        "self",
        "event",
    ],
    ("dagster._core.storage.event_log.sqlite.sqlite_event_log", "SqliteEventLogStorage.store_event_batch"): [
        "self",
        "events",
    ],
    ("dagster._core.storage.event_log.sqlite.sqlite_event_log", "SqliteEventLogStorage.has_table"): [
        "self",
        "table_name",
    ],
    ("dagster._core.storage.event_log.sql_event_log", "SqlEventLogStorage._event_to_row"): ["self", "event"],
    ("dagster._core.storage.event_log.sql_event_log", "SqlEventLogStorage._store_asset_event_tags"): [
        "self",
        "conn",
        "events",
        "event_ids",
    ],
    ("dagster._core.storage.event_log.sql_event_log", "SqlEventLogStorage._store_asset_event"): [
        "self",
        "conn",
        "event",
        "event_id",
    ],
    ("dagster._core.storage.event_log.sql_event_log", "SqlEventLogStorage.store_asset_check_event"): [
        "self",
        "event",
        "event_id",
    ],
    (
        "dagster._core.storage.event_log.sql_event_log",
        "SqlEventLogStorage._has_asset_key_index_cols_on_connection",
    ): ["self", "conn"],
    ("dagster._core.execution.retries", "auto_reexecution_should_retry_run"): [
        "instance",
        "run",
        "run_failure_reason",
    ],
    ("dagster._core.instance.ref", "InstanceRef.from_dir"): [
        "base_dir",
    ],
}

# attributes ``embedded/`` reads on Dagster's objects: (module, class, attribute)
INTERNAL_ATTRIBUTES = [
    (
        "dagster._core.storage.event_log.sqlite.sqlite_event_log",
        "SqliteEventLogStorage",
        "handles_run_events_in_store_event",
    ),
    ("dagster._core.storage.event_log.sqlite.sqlite_event_log", "SqliteEventLogStorage", "wipe"),
    ("dagster._core.storage.event_log.sqlite.sqlite_event_log", "SqliteEventLogStorage", "upgrade"),
    ("dagster._core.storage.event_log.sqlite.sqlite_event_log", "SqliteEventLogStorage", "dispose"),
    ("dagster._core.launcher", "WorkerStatus", "RUNNING"),
    ("dagster._core.launcher", "WorkerStatus", "FAILED"),
    ("dagster._core.launcher", "WorkerStatus", "SUCCESS"),
    ("dagster", "DefaultRunLauncher", "check_run_worker_health"),
    ("dagster", "DefaultRunLauncher", "supports_check_run_worker_health"),
    ("dagster", "DagsterInstance", "run_retries_enabled"),
    ("dagster", "DagsterInstance", "add_run_tags"),
]


def _changed(what: str) -> str:
    return (
        f"Dagster {dg.__version__}: {what}. mlops_assets/embedded/ (the embedded instance's event log, "
        "run launcher or step preload) relies on it: adapt it to this "
        "Dagster version"
    )


@pytest.mark.parametrize("module", sorted(INTERNAL_NAMES))
def test_every_internal_name_the_embedded_instance_imports_is_still_there(module):
    try:
        found = importlib.import_module(module)
    except ImportError as exc:
        pytest.fail(_changed(f"module {module} is gone ({exc})"))
    missing = [name for name in INTERNAL_NAMES[module] if not hasattr(found, name)]
    assert not missing, _changed(f"{module} no longer has {', '.join(missing)}")


@pytest.mark.parametrize(("module", "qualified"), sorted(INTERNAL_SIGNATURES))
def test_every_internal_signature_the_embedded_instance_uses_is_unchanged(module, qualified):
    target: object = importlib.import_module(module)
    for part in qualified.split("."):
        target = getattr(target, part, None)
        assert target is not None, _changed(f"{module}.{qualified} is gone")
    target = getattr(target, "__func__", target)  # a classmethod's function
    parameters = inspect.signature(target).parameters  # ty: ignore[invalid-argument-type]
    expected = INTERNAL_SIGNATURES[(module, qualified)]
    # What embedded/ passes comes first, in this order; anything Dagster added after it has a default.
    added = [p for name, p in parameters.items() if name not in expected]
    assert list(parameters)[: len(expected)] == expected and all(
        p.default is not inspect.Parameter.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in added
    ), _changed(f"{module}.{qualified} now takes ({', '.join(parameters)}), not ({', '.join(expected)})")


def test_every_internal_attribute_the_embedded_instance_reads_is_still_there():
    def has(owner: type, attribute: str) -> bool:
        if attribute.startswith("self."):
            return attribute in inspect.getsource(owner.__init__) and attribute in inspect.getsource(
                owner.log_event
            )
        return hasattr(owner, attribute)

    missing = [
        f"{module}.{cls}.{attribute}"
        for module, cls, attribute in INTERNAL_ATTRIBUTES
        if not has(getattr(importlib.import_module(module), cls), attribute)
    ]
    assert not missing, _changed(f"{', '.join(missing)} are gone")


def test_the_embedded_modules_import_only_the_internals_listed_here():
    """A new internal in ``embedded/`` is listed above, so that a Dagster upgrade checks it too."""
    listed = {(module, name) for module, names in INTERNAL_NAMES.items() for name in names}
    unlisted = []
    for path in sorted(EMBEDDED.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("dagster._"):
                unlisted += [
                    f"{path.name}: {node.module}.{a.name}"
                    for a in node.names
                    if (node.module, a.name) not in listed
                ]
    assert not unlisted, f"list these in INTERNAL_NAMES: {unlisted}"


def _internal_imports(path: Path) -> list[str]:
    """``dagster._...`` modules and ``mlops_assets.embedded`` imported by a source file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
    return [m for m in found if m.startswith(("dagster._", "mlops_assets.embedded"))]


def test_no_production_module_imports_dagster_internals_or_the_embedded_package():
    offending = {
        str(path.relative_to(ROOT)): imports
        for path in sorted(PACKAGE.rglob("*.py"))
        if EMBEDDED not in path.parents and (imports := _internal_imports(path))
    }
    assert not offending, f"Dagster internals outside mlops_assets/embedded/: {offending}"


def test_loading_the_code_location_does_not_import_the_embedded_package(tmp_path):
    probe = (
        "import sys; import mlops_assets.definitions; "
        "print(sorted(m for m in sys.modules if m.startswith('mlops_assets.embedded')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        env={"PATH": "/usr/bin:/bin", "MLOPS_HOME": str(tmp_path), "PYTHONWARNINGS": "ignore"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
