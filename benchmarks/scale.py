"""A year of data and many models: does the platform's cost follow the work? (issue 14)

Generates N model specs (copies of the shipped ones under new names) in a temporary specs
directory and a fresh state, and measures in one run, each against a peer measured in the same run:

1. code-location load for N = 2, 20, 100 against ``import dagster, dagster_dbt``;
2. one automation evaluation (``dg.evaluate_automation_conditions``) on an instance holding a
   year of materializations of every daily asset, for N = 2 and 100, after one new day lands;
3. the year backfill of raw + features with Dagster's own CLI (``dagster asset materialize
   --partition-range``) against a plain one-pass script using the same library functions
   (reader, contracts, feature builder, Parquet writes); the same run in process; and Dagster's
   floor, the same CLI, instance and partitions with assets that do nothing;
4. training every spec (``dagster asset materialize --select 'group:models'``) against the same
   training calls in one plain process (no MLflow, no Dagster);
5. the year of predictions and daily reports for every spec (the CLI again) against pure scoring
   and report computation (``score_range``, ``daily_report``, ``render_report``) in one process.

Every measured step runs in its own process: wall time and peak RSS (largest process) are printed.

Run: .venv/bin/python benchmarks/scale.py [--specs 10] [--load-specs 2,20,100] [--tick 2:364,20:364,100:364]
     [--skip-pipeline] [--skip-models] [--first 2013-01-01 --last 2013-03-31] [--before REV [--rounds 3]]   (--load-specs '' --tick '': skip 1, 2)    # about 9 minutes with the defaults on 2 cores; --specs 20 about 13
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SHIPPED_SPECS = ROOT / "mlops_assets" / "defs" / "models"
PYTHON = sys.executable
DAGSTER = str(Path(sys.executable).with_name("dagster"))
FIRST_DAY, LAST_DAY = "2013-01-01", "2013-12-31"


@dataclass
class Measured:
    seconds: float
    peak_mib: float
    output: str


def run(command: list[str], env: dict[str, str], cwd: Path = ROOT) -> Measured:
    """Run a command to completion; its wall time and the peak RSS of its largest process."""
    began = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    output = process.stdout.read() if process.stdout else ""
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - began
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{output[-4000:]}")
    return Measured(seconds, usage.ru_maxrss / 1024, output)


def python(code: str, env: dict[str, str]) -> Measured:
    return run([PYTHON, "-W", "ignore", "-c", code], env)


def make_specs(directory: Path, count: int) -> list[str]:
    """A folder of ``count`` model folders (MLOPS_MODELS_DIR): the shipped ones, then copies of them
    under new names."""
    directory.mkdir(parents=True, exist_ok=True)
    shipped = sorted(SHIPPED_SPECS.glob("*/defs.yaml"))
    names = []
    for i in range(count):
        component = yaml.safe_load(shipped[i % len(shipped)].read_text())
        raw = component["attributes"]
        if i >= len(shipped):
            raw["name"] = f"{raw['name']}_{i:03d}"
        (directory / raw["name"]).mkdir(exist_ok=True)
        (directory / raw["name"] / "defs.yaml").write_text(yaml.safe_dump(component, sort_keys=False))
        names.append(raw["name"])
    return names


def environment(home: Path, specs: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "MLFLOW_", "DAGSTER_"))}
    env.update(
        MLOPS_HOME=str(home),
        MLOPS_MODELS_DIR=str(specs),
        DAGSTER_HOME=str(home / "dagster"),
        PYTHONWARNINGS="ignore",
    )
    return env


def row(label: str, measured: Measured, peer: Measured | None = None, goal: str = "") -> None:
    ratio = f"{measured.seconds / peer.seconds:6.2f}x" if peer else "       "
    print(f"  {label:<46} {measured.seconds:8.2f} s {measured.peak_mib:8.0f} MiB  {ratio} {goal}", flush=True)


# 1. Code-location load ---------------------------------------------------------------------------

LOAD = (
    "import time; t = time.perf_counter(); import mlops_assets.definitions as d; "
    "print(time.perf_counter() - t, len(d.defs.resolve_asset_graph().get_all_asset_keys()))"
)


def measure_load(work: Path, counts: list[int], repeat: int = 3) -> None:
    print("\n1. code-location load (fresh process each, median of 3; estimator validation cache warm)")
    (work / "load" / "cache").mkdir(parents=True, exist_ok=True)  # what prepare-instance makes
    peer_times = [
        python(
            "import time; t = time.perf_counter(); import dagster, dagster_dbt; print(time.perf_counter() - t)",
            environment(work / "load", work / "load_specs_2"),
        )
        for _ in range(repeat)
    ]
    peer = Measured(
        statistics.median(float(m.output.split()[0]) for m in peer_times),
        max(m.peak_mib for m in peer_times),
        "",
    )
    row("peer: import dagster, dagster_dbt", peer)
    for count in counts:
        specs = work / f"load_specs_{count}"
        if not specs.exists():
            make_specs(specs, count)
        env = environment(work / "load", specs)
        python(LOAD, env)  # warms the estimator validation cache and the dbt manifest
        runs = [python(LOAD, env) for _ in range(repeat)]  # the count is taken after the timer
        seconds = statistics.median(float(m.output.split()[0]) for m in runs)
        assets = runs[0].output.split()[1]
        goal = "(goal <= 1.5x)" if count <= 2 else "(goal <= 2x)" if count >= 100 else ""
        row(
            f"load, {count} specs ({assets} assets)",
            Measured(seconds, max(m.peak_mib for m in runs), ""),
            peer,
            goal,
        )


# 2. One automation evaluation on a year of history -------------------------------------------------

TICK = r"""
import datetime, json, sys, time, warnings
warnings.simplefilter("ignore")
import dagster as dg
from mlops_assets.definitions import build_definitions
from mlops_assets.settings import current_settings

days = int(sys.argv[1])
defs = build_definitions(current_settings())
graph = defs.resolve_asset_graph()
daily = [k for k in graph.get_all_asset_keys() if graph.get(k).partitions_def is not None]
other = [k for k in graph.get_all_asset_keys() if graph.get(k).partitions_def is None]
first = datetime.date(2013, 1, 1)
keys = [(first + datetime.timedelta(days=n)).isoformat() for n in range(days)]
instance = dg.DagsterInstance.get()
began = time.perf_counter()
storage = instance.event_log_storage
for key in other:
    instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=key, tags={"dagster/data_version": "v0"}))
for day in keys:
    for key in daily:
        instance.report_runless_asset_event(
            dg.AssetMaterialization(asset_key=key, partition=day, tags={"dagster/data_version": f"v-{day}"})
        )
history_s = time.perf_counter() - began
clock = datetime.datetime(2014, 1, 2, tzinfo=datetime.UTC)
first_tick = time.perf_counter()
cursor = dg.evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=clock).cursor
first_tick = time.perf_counter() - first_tick
def land(n):
    new_day = (first + datetime.timedelta(days=n)).isoformat()
    for table in ("flights", "weather"):
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=["raw", table], partition=new_day, tags={"dagster/data_version": ""}))
        instance.report_runless_asset_event(dg.AssetObservation(asset_key=["raw", table], partition=new_day, tags={"dagster/data_version": "new"}))

def tick(minutes):
    began = time.perf_counter()
    result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor, evaluation_time=clock + datetime.timedelta(minutes=minutes))
    return result, time.perf_counter() - began

# The first day after the history: Dagster builds its partition-status caches (stored in the
# instance) on this tick. The next day's tick is the steady state of a running daemon.
land(days)
result, tick_s = tick(1)
requested = sum(len(result.get_requested_partitions(k)) for k in graph.get_all_asset_keys())
cursor = result.cursor
land(days + 1)
result, next_tick_s = tick(2)
print(json.dumps({"assets": len(daily) + len(other), "events": len(daily) * days + len(other), "history_s": history_s,
                  "first_tick_s": first_tick, "tick_s": tick_s, "next_tick_s": next_tick_s, "requested": requested}))
"""


def measure_tick(work: Path, cases: list[tuple[int, int]]) -> None:
    print("\n2. one automation evaluation after one new day lands, on a history of every daily asset")
    for count, days in cases:
        specs = work / f"load_specs_{count}"
        if not specs.exists():
            make_specs(specs, count)
        home = Path(tempfile.mkdtemp(prefix="tick-", dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
        try:
            env = environment(home, specs)
            python(
                "from mlops_assets.instance import prepare_instance; from mlops_assets.settings import current_settings;"
                " prepare_instance(current_settings())",
                env,
            )
            measured = run([PYTHON, "-W", "ignore", "-c", TICK, str(days)], env)
        finally:
            shutil.rmtree(home, ignore_errors=True)
        figures = json.loads(measured.output.strip().splitlines()[-1])
        print(
            f"  {count:>3} specs, {days} days, {figures['assets']} assets, {figures['events']:,} materializations "
            f"(written in {figures['history_s']:.0f} s): first evaluation {figures['first_tick_s']:.2f} s, "
            f"the new day's tick {figures['tick_s']:.2f} s ({figures['requested']} asset partitions requested; "
            f"{figures['tick_s'] / figures['assets'] * 1000:.1f} ms per asset), the next day's tick "
            f"{figures['next_tick_s']:.2f} s (goal < 5 s at 100 specs)",
            flush=True,
        )


# 3-5. The pipeline over the year -------------------------------------------------------------------

PLAIN_RAW_FEATURES = r"""
import sys, time, warnings
from datetime import date, timedelta
from pathlib import Path
warnings.simplefilter("ignore")
import polars as pl
from mlops_assets.lib.contracts import check_contract, check_partitions, contract_for, row_day
from mlops_assets.lib.features import build_flight_features, features_contract, row_day as features_row_day
from mlops_assets.lib.landing import read_landed
from mlops_assets.lib.tables import TABLES

landing, out = Path(sys.argv[1]), Path(sys.argv[2])
first, last = date.fromisoformat(sys.argv[3]), date.fromisoformat(sys.argv[4])
days = [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]
dims = {name: read_landed(landing, name, None).table for name in ("airports", "planes", "airlines")}
for name, table in dims.items():
    assert check_contract(table, contract_for(TABLES[name]), name).passed
raw = {}
for name in ("flights", "weather"):
    raw[name] = {day: read_landed(landing, name, day).table for day in days}
    reports = check_partitions(raw[name], contract_for(TABLES[name]), str, *row_day(TABLES[name]))
    assert all(r.passed for r in reports.values())
    for day, table in raw[name].items():
        (out / name / day).mkdir(parents=True, exist_ok=True)
        table.write_parquet(out / name / day / "data.parquet", compression="zstd", statistics=True)
features = build_flight_features(pl.concat(raw["flights"].values()), pl.concat(raw["weather"].values()),
                                 dims["planes"], dims["airports"])
by_day = {k[0].isoformat(): f for k, f in features.partition_by("date", as_dict=True).items()}
assert all(r.passed for r in check_partitions(by_day, features_contract(), str, *features_row_day()).values())
for day, table in by_day.items():
    (out / "features" / day).mkdir(parents=True, exist_ok=True)
    table.write_parquet(out / "features" / day / "data.parquet", compression="zstd", statistics=True)
print(features.height)
"""

PLAIN_TRAINING = r"""
import sys, warnings
warnings.simplefilter("ignore")
import polars as pl
from mlops_assets.lib import training
from mlops_assets.lib.model_spec import load_specs
from mlops_assets.lib.versioned_store import LocalStore
from mlops_assets.resources.io_manager import read_partitions
from mlops_assets.lib.versioned_store.wap import published_partitions

store = LocalStore(sys.argv[2])
days = published_partitions(store, "main", ["features", "flight_features"])
for spec, _ in load_specs(__import__("pathlib").Path(sys.argv[1])).values():
    window = training.select_window(spec, days)
    _, tables = read_partitions(store, ["features", "flight_features"], window.days)
    frame = training.labelled(spec, pl.concat(list(tables.values())))
    holdout = frame.filter(pl.col("date").cast(pl.String).is_in(window.holdout_days))
    train = frame.filter(~pl.col("date").cast(pl.String).is_in(window.holdout_days))
    pipeline = training.fit(spec, train)
    training.evaluate(spec, training.predict_scores(spec, pipeline, holdout), holdout[training.TARGET].to_numpy())
"""

PLAIN_SCORING = r"""
import sys, time, warnings
from datetime import date, timedelta
warnings.simplefilter("ignore")
import polars as pl
from mlops_assets.lib.drift import ReferenceProfile
from mlops_assets.lib.model_spec import load_specs
from mlops_assets.lib.monitoring import daily_report
from mlops_assets.lib.report_html import render_report
from mlops_assets.lib.scoring import score_range
from mlops_assets.lib.lifecycle import published_versions
from mlops_assets.lib.tracking import CHAMPION, Tracker
from mlops_assets.lib.tracking.artifacts import audited_model
from mlops_assets.lib.versioned_store import LocalStore
from mlops_assets.lib.versioned_store.wap import published_partitions
from mlops_assets.resources.io_manager import read_partitions

specs_dir, store_dir, tracking_uri = sys.argv[1:4]
store = LocalStore(store_dir)
days = published_partitions(store, "main", ["features", "flight_features"])
_, features = read_partitions(store, ["features", "flight_features"], days)
tracker = Tracker(tracking_uri)
work = 0.0
for spec, _ in load_specs(__import__("pathlib").Path(specs_dir)).values():
    audited = audited_model(spec.name, published_versions(store, spec.name),
                            tracker.version_with_alias(spec.name, CHAMPION).version, alias=CHAMPION)
    version = audited.version
    model = tracker.load_model(audited)
    profile = ReferenceProfile.from_dict(tracker.load_reference_profile(spec.name, version))
    tags = tracker.lineage(spec.name, version)["tags"]
    began = time.perf_counter()
    scored = score_range(spec, model, features, version)
    for day, result in scored.items():
        label_day = (date.fromisoformat(day) + timedelta(days=spec.training.label_delay_days)).isoformat()
        report = daily_report(spec, date.fromisoformat(day), features[day], result.table, profile,
                              labels_arrived=label_day in features, holdout_score=float(tags["mlops.holdout_score"]),
                              expected_rows=1000.0, latency=None)
        render_report(f"{spec.name} {day}", report, profile, result.table["score"].to_numpy(), "")
    work += time.perf_counter() - began
print(work)
"""


# Dagster's own cost of the same run's shape: three daily assets (two roots and the one that reads
# them) over the same range, doing nothing, through the same CLI on the same instance configuration.
NOTHING_DEFS = r"""
import os
import dagster as dg

days = dg.DailyPartitionsDefinition(start_date="2013-01-01", end_date="2014-01-01")
policy = dg.BackfillPolicy.single_run()


class Nothing(dg.ConfigurableIOManager):
    def handle_output(self, context, obj):
        pass

    def load_input(self, context):
        return None


@dg.asset(key=["raw", "flights"], partitions_def=days, backfill_policy=policy)
def flights():
    return None


@dg.asset(key=["raw", "weather"], partitions_def=days, backfill_policy=policy)
def weather():
    return None


@dg.asset(key=["features", "flight_features"], partitions_def=days, backfill_policy=policy, deps=[flights, weather])
def features():
    return None


in_process = os.environ.get("NOTHING_IN_PROCESS") == "1"
defs = dg.Definitions(
    assets=[flights, weather, features],
    resources={"io_manager": Nothing()},
    executor=dg.in_process_executor if in_process else dg.multiprocess_executor,
)
"""


def measure_floor(work: Path, first: str, last: str, peer: Measured) -> None:
    """Dagster's floor for the year's run: the same CLI, instance and partitions, assets that do nothing."""
    from mlops_assets.instance import EMBEDDED_DAGSTER_YAML

    floor = work / "floor"
    floor.mkdir()
    (floor / "nothing.py").write_text(NOTHING_DEFS)
    command = [DAGSTER, "asset", "materialize", "-f", str(floor / "nothing.py"), "--select", "*"]
    for executor, in_process in (("multiprocess", "0"), ("in process", "1")):
        home = floor / f"dagster_{in_process}"
        home.mkdir()
        (home / "dagster.yaml").write_text(EMBEDDED_DAGSTER_YAML)
        env = environment(floor, floor) | {"DAGSTER_HOME": str(home), "NOTHING_IN_PROCESS": in_process}
        measured = run([*command, "--partition-range", f"{first}...{last}"], env)
        row(f"Dagster's floor: no-op assets, {executor}", measured, peer)


PREPARE_INSTANCE = (
    "from mlops_assets.instance import prepare_instance; from mlops_assets.settings import current_settings;"
    " prepare_instance(current_settings())"
)


def measure_pipeline(work: Path, count: int, first: str, last: str, skip_models: bool = False) -> None:
    specs = work / "pipeline_specs"
    names = make_specs(specs, count)
    home = work / "pipeline"
    env = environment(home, specs)
    print(f"\n3-5. the pipeline over {first}..{last} with {count} specs (Dagster CLI, default executor)")
    landed = python(
        f"from datetime import date; from mlops_assets.lib.landing import land_days; from pathlib import Path; "
        f"land_days(Path({str(home / 'landing')!r}), date.fromisoformat({first!r}), date.fromisoformat({last!r}))",
        env,
    )
    print(f"  landed {first}..{last} in {landed.seconds:.0f} s", flush=True)
    python(PREPARE_INSTANCE, env)
    materialize = [DAGSTER, "asset", "materialize", "-m", "mlops_assets.definitions"]

    dims = run([*materialize, "--select", "raw/airports,raw/planes,raw/airlines"], env)
    row("raw dimensions (3 tables, one process)", dims)
    year_selection = "raw/flights,raw/weather,features/flight_features"
    year = run([*materialize, "--select", year_selection, "--partition-range", f"{first}...{last}"], env)
    peer = run(
        [
            PYTHON,
            "-W",
            "ignore",
            "-c",
            PLAIN_RAW_FEATURES,
            str(home / "landing"),
            str(work / "plain"),
            first,
            last,
        ],
        env,
    )
    row("peer: plain script, same library, one pass", peer)
    row("year of raw + features, one run", year, peer, "(goal <= 1.5x and < 20 s)")
    measure_floor(work, first, last, peer)
    in_process = work / "pipeline_in_process"
    shutil.copytree(home / "landing", in_process / "landing")
    env_in_process = environment(in_process, specs) | {"MLOPS_EXECUTOR": "in_process"}
    python(PREPARE_INSTANCE, env_in_process)
    run([*materialize, "--select", "raw/airports,raw/planes,raw/airlines"], env_in_process)
    row(
        "the same run, MLOPS_EXECUTOR=in_process",
        run(
            [*materialize, "--select", year_selection, "--partition-range", f"{first}...{last}"],
            env_in_process,
        ),
        peer,
    )
    if skip_models:
        return

    trained = run([*materialize, "--select", "group:models"], env)
    peer = run([PYTHON, "-W", "ignore", "-c", PLAIN_TRAINING, str(specs), str(home / "store")], env)
    row(f"peer: train {count} specs in one plain process", peer)
    row(f"train every spec ({count}), register, promote", trained, peer)

    selection = ",".join(
        [*(f"predictions/{n}" for n in names), *(f"monitoring/{n}/daily_report" for n in names)]
    )
    scored = run([*materialize, "--select", selection, "--partition-range", f"{first}...{last}"], env)
    peer = run(
        [
            PYTHON,
            "-W",
            "ignore",
            "-c",
            PLAIN_SCORING,
            str(specs),
            str(home / "store"),
            f"sqlite:///{home / 'mlflow' / 'mlflow.db'}",
        ],
        env,
    )
    pure = float(peer.output.strip().splitlines()[-1])
    row(f"peer: score + report + HTML, one process ({pure:.1f} s of it compute)", peer)
    row(f"year of predictions + reports, {count} specs", scored, peer, "(goal <= 2x per spec)")
    print(
        f"  per spec: {scored.seconds / count:.1f} s against {pure / count:.1f} s of pure scoring and reporting "
        f"({scored.seconds / pure:.2f}x)"
    )


# 6. Before and after a change, in one run ---------------------------------------------------------


def measure_before_after(work: Path, rev: str, first: str, last: str, rounds: int = 3) -> None:
    """The code-location load (2 and 100 specs) and the year of raw + features, for the commit
    ``rev`` (a git worktree of it) and for this tree, interleaved round by round so that a busy
    machine slows both alike. Each tree runs its own code (``PYTHONPATH``) in the same venv."""
    before = work / "before-tree"
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(before), rev],
        check=True,
        capture_output=True,
    )
    trees = {"before": before, "after": ROOT}

    def env_for(tree: Path, home: Path, specs: Path) -> dict[str, str]:
        return environment(home, specs) | {"PYTHONPATH": str(tree)}

    try:
        print(f"\n6. before ({rev}) and after (this tree), {rounds} interleaved rounds")
        for count in (2, 100):
            specs = work / f"ab_specs_{count}"
            make_specs(specs, count)
            (work / "ab_load" / "cache").mkdir(parents=True, exist_ok=True)
            times: dict[str, list[float]] = {"before": [], "after": []}
            for tree in trees.values():  # warms each tree's estimator cache and dbt manifest
                run([PYTHON, "-W", "ignore", "-c", LOAD], env_for(tree, work / "ab_load", specs), cwd=tree)
            for _ in range(rounds):
                for label, tree in trees.items():
                    measured = run(
                        [PYTHON, "-W", "ignore", "-c", LOAD], env_for(tree, work / "ab_load", specs), cwd=tree
                    )
                    times[label].append(float(measured.output.split()[0]))
            _before_after_row(f"load, {count} specs", times)
        landing = work / "ab_landing"
        python(
            f"from datetime import date; from mlops_assets.lib.landing import land_days; from pathlib import Path; "
            f"land_days(Path({str(landing)!r}), date.fromisoformat({first!r}), date.fromisoformat({last!r}))",
            environment(work / "ab_land", work / "ab_specs_2"),
        )
        selection = "raw/flights,raw/weather,features/flight_features"
        times = {"before": [], "after": []}
        for round_ in range(rounds):
            for label, tree in trees.items():
                home = work / f"ab_{label}_{round_}"
                shutil.copytree(landing, home / "landing")
                env = env_for(tree, home, work / "ab_specs_2")
                run([PYTHON, "-W", "ignore", "-c", PREPARE_INSTANCE], env, cwd=tree)
                materialize = [DAGSTER, "asset", "materialize", "-m", "mlops_assets.definitions"]
                run([*materialize, "--select", "raw/airports,raw/planes,raw/airlines"], env, cwd=tree)
                year = run(
                    [*materialize, "--select", selection, "--partition-range", f"{first}...{last}"],
                    env,
                    cwd=tree,
                )
                times[label].append(year.seconds)
                shutil.rmtree(home)
        _before_after_row(f"raw + features {first}..{last}, one CLI run", times)
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(before)], check=False)


def _before_after_row(label: str, times: dict[str, list[float]]) -> None:
    before, after = statistics.median(times["before"]), statistics.median(times["after"])
    paired = statistics.median(a / b for a, b in zip(times["after"], times["before"], strict=True))
    print(
        f"  {label:<46} before {before:7.2f} s  after {after:7.2f} s  after/before {after / before:5.2f} "
        f"(paired median {paired:.2f}; rounds: {', '.join(f'{b:.2f}/{a:.2f}' for b, a in zip(times['before'], times['after'], strict=True))})",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--specs", type=int, default=10, help="specs for the pipeline (3-5); 20 adds about 4 minutes"
    )
    parser.add_argument("--load-specs", default="2,20,100")
    parser.add_argument(
        "--tick",
        default="2:364,20:364,100:364",
        help="specs:days of history for the automation evaluation; writing history costs about 1 ms an "
        "event, so 100:364 (78,000 events) takes about 90 s",
    )
    parser.add_argument("--first", default=FIRST_DAY)
    parser.add_argument("--last", default=LAST_DAY)
    parser.add_argument("--skip-pipeline", action="store_true")
    parser.add_argument(
        "--skip-models",
        action="store_true",
        help="the pipeline's raw + features only (no training, no scoring)",
    )
    parser.add_argument(
        "--before",
        metavar="REV",
        help="only 6.: load and the year of raw + features at commit REV against this tree, interleaved",
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds of --before")
    args = parser.parse_args()
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mlops-scale-") as tmp:
        work = Path(tmp)
        print(f"benchmarks/scale.py: {os.cpu_count()} cores, Python {sys.version.split()[0]}, work in {work}")
        if args.before:
            measure_before_after(work, args.before, args.first, args.last, args.rounds)
            print(f"\ntotal {time.perf_counter() - began:.0f} s")
            return
        measure_load(work, [int(n) for n in args.load_specs.split(",") if n])
        measure_tick(work, [(int(c.split(":")[0]), int(c.split(":")[1])) for c in args.tick.split(",") if c])
        if not args.skip_pipeline:
            measure_pipeline(work, args.specs, args.first, args.last, args.skip_models)
    print(f"\ntotal {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
