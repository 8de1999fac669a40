"""A materializing process killed mid-write publishes nothing; the retry publishes correctly."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from mlops_assets.lib.versioned_store.wap import WAP_PREFIX, read_table, table_path
from tests.conftest import PROJECT_ROOT, expected_rows, land, run_daily
from tests.processes import kill_when_printed

# The child materializes a 7-day range; it stops after its 3rd object write so we can kill it there.
CHILD = textwrap.dedent(
    """
    import sys, time, warnings
    warnings.simplefilter("ignore")
    import dagster as dg
    from mlops_assets.lib.versioned_store.local import LocalStore
    from mlops_assets.definitions import build_definitions
    from mlops_assets.settings import load_settings

    original = LocalStore.write_object
    writes = []

    def write_then_hang(self, branch, path, data):
        info = original(self, branch, path, data)
        writes.append(path)
        if len(writes) == 3:
            print("MID-WRITE", flush=True)
            time.sleep(600)
        return info

    LocalStore.write_object = write_then_hang
    defs = build_definitions(load_settings({"MLOPS_HOME": sys.argv[1]}))
    defs.resolve_job_def("raw_daily").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        tags={"dagster/asset_partition_range_start": "2013-05-01", "dagster/asset_partition_range_end": "2013-05-07"},
    )
    """
)


def test_sigkill_mid_write_leaves_main_untouched_and_retry_publishes(
    settings, defs, instance, store, tmp_path
):
    land(settings, "2013-05-01", "2013-05-07")
    main_before = store.get_branch("main").commit_id
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    child = subprocess.Popen(
        [sys.executable, str(script), str(settings.home)],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert kill_when_printed(child, "MID-WRITE", seconds=120), "child never reached the middle of its write"

    assert store.get_branch("main").commit_id == main_before
    assert store.list_objects("main", "raw/") == []
    kept = [b.name for b in store.list_branches() if b.name.startswith(WAP_PREFIX)]
    assert len(kept) == 1, "the killed materialization's branch is kept for inspection"
    assert len(store.list_objects(kept[0], "raw/flights/")) == 3  # staged, never committed nor merged

    result = run_daily(defs, instance, "2013-05-01", "2013-05-07")
    assert result.success
    for day in range(1, 8):
        partition = f"2013-05-{day:02d}"
        published = read_table(store, "main", table_path(["raw", "flights"], partition))
        assert published.height == expected_rows("flights", partition)
