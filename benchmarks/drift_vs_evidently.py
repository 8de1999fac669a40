"""A day's drift check: our reference profile + ``compare`` against Evidently's ``DataDriftPreset`` report.

Same data on both sides, measured in one run: reference = the flight features of 2013-03-01..2013-05-31
(85,960 rows), current = 2013-07-01 (966 rows), all 24 features of ``features/flight_features``
(21 numeric, 3 categorical), built with the project's own feature builder from landed files.

- ours: ``build_profile`` once on the reference (timed separately: a training-time cost), then per
  day ``ReferenceProfile.from_dict`` + ``compare`` on the day's rows only;
- Evidently 0.7: ``Report([DataDriftPreset()]).run(current, reference)`` + ``snapshot.dict()``; it has
  no stored profile, so the reference frame is an input of every day's run.

Wall time: median of ``--repeat`` runs after one warm-up run (the warm-up, i.e. a fresh process's
first run with its lazy imports, is printed too). Peak memory: tracemalloc would miss most of both
sides (polars' Rust allocator, Arrow and pandas buffers), so each side runs in fresh processes of
its own venv and reports the kernel's peak RSS of its address space (VmHWM, read at exit): once
for a process that only imports and loads its inputs (ours: profile JSON + the day; Evidently:
reference + the day), once for the same plus one day's comparison. The second is what a daily
job's process peaks at; the difference is the comparison's own peak (Evidently's includes the
modules it imports lazily during its first run, which a fresh daily process pays too).

Setup, once (Evidently pins pandas/numpy versions the project's venv must not get; pandas 3 breaks
evidently 0.7.23, hence ``pandas<3``):

    python3.11 -m venv .venv-bench && echo '*' > .venv-bench/.gitignore
    .venv-bench/bin/pip install 'evidently==0.7.23' 'pandas<3' pyarrow

Run:

    .venv/bin/python benchmarks/drift_vs_evidently.py [--repeat 5] [--evidently-python .venv-bench/bin/python]

This module imports only the standard library at top level: the Evidently child runs this same file
in .venv-bench, where neither polars nor mlops_assets is installed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
REFERENCE_DAYS = ("2013-03-01", "2013-05-31")
CURRENT_DAY = "2013-07-01"
GOAL_SPEEDUP = 150.0


def peak_rss_mib() -> float:
    """This process's peak resident set size (VmHWM), in MiB.

    Not ``getrusage(...).ru_maxrss``: Linux carries that high-water mark over from the parent
    through fork and exec, so every child would report at least the driver's ~500 MiB (it holds
    the prepared data). VmHWM belongs to the address space, which exec replaces.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    raise SystemExit("no VmHWM in /proc/self/status: the memory figures need Linux")


# --- data, in the project venv --------------------------------------------------------------------


def prepare(folder: Path) -> dict:
    """Land the days, build the features per day as the feature asset does, write reference and current."""
    from datetime import date, timedelta

    import polars as pl

    from mlops_assets.lib.features import FEATURES, build_flight_features
    from mlops_assets.lib.landing import land_days, read_landed

    landing = folder / "landing"
    first, last = date.fromisoformat(REFERENCE_DAYS[0]), date.fromisoformat(CURRENT_DAY)
    land_days(landing, first, last)
    planes = read_landed(landing, "planes", None).table
    airports = read_landed(landing, "airports", None).table

    def features_of(day: date) -> pl.DataFrame:
        partition = day.isoformat()
        flights = read_landed(landing, "flights", partition).table
        weather = read_landed(landing, "weather", partition).table
        return build_flight_features(flights, weather, planes, airports).select(list(FEATURES))

    reference_last = date.fromisoformat(REFERENCE_DAYS[1])
    reference = pl.concat(
        features_of(first + timedelta(days=n)) for n in range((reference_last - first).days + 1)
    )
    current = features_of(last)
    reference.write_parquet(folder / "reference.parquet")
    current.write_parquet(folder / "current.parquet")
    spec = {
        "numeric": [name for name, feature in FEATURES.items() if not feature.categorical],
        "categorical": [name for name, feature in FEATURES.items() if feature.categorical],
        "reference_rows": reference.height,
        "current_rows": current.height,
    }
    (folder / "features.json").write_text(json.dumps(spec))
    return spec


# --- ours, in the project venv --------------------------------------------------------------------


def child_ours(folder: Path, mode: str, repeat: int) -> dict:
    import polars as pl

    from mlops_assets.lib.drift import (
        DriftThresholds,
        ReferenceProfile,
        build_profile,
        compare,
        feature_status,
    )

    spec = json.loads((folder / "features.json").read_text())
    thresholds = DriftThresholds()  # the shipped specs' monitoring defaults: PSI 0.2, KS 0.1
    if mode == "time":
        reference = pl.read_parquet(folder / "reference.parquet")
        build_seconds = []
        for _ in range(repeat):
            began = time.perf_counter()
            profile = build_profile(reference, spec["numeric"], spec["categorical"])
            build_seconds.append(time.perf_counter() - began)
        (folder / "profile.json").write_text(json.dumps(profile.to_dict(), allow_nan=False))
        del reference
    profile_text = (folder / "profile.json").read_text()
    began = time.perf_counter()
    profile = ReferenceProfile.from_dict(json.loads(profile_text))
    load_seconds = time.perf_counter() - began
    current = pl.read_parquet(folder / "current.parquet")
    result: dict = {"profile_bytes": len(profile_text), "profile_load_s": load_seconds}
    if mode == "load":
        return {**result, "peak_rss_mib": peak_rss_mib()}
    began = time.perf_counter()
    table = compare(profile, current, thresholds)
    first_seconds = time.perf_counter() - began
    if mode == "once":
        return {**result, "peak_rss_mib": peak_rss_mib()}
    seconds = []
    for _ in range(repeat):
        began = time.perf_counter()
        table = compare(profile, current, thresholds)
        seconds.append(time.perf_counter() - began)
    wide = table.filter(pl.col("metric").is_in(["psi", "ks_statistic", "ks_p_value"])).pivot(
        "metric", index="feature", values="value"
    )
    scores = {row["feature"]: row for row in wide.to_dicts()}
    verdicts = {
        row["feature"]: {"drift": row["status"] == "drift", "status": row["status"], **scores[row["feature"]]}
        for row in feature_status(table).to_dicts()
    }
    return {
        **result,
        "build_s": statistics.median(build_seconds),
        "first_s": first_seconds,
        "median_s": statistics.median(seconds),
        "verdicts": verdicts,
    }


# --- Evidently, in .venv-bench --------------------------------------------------------------------


def child_evidently(folder: Path, mode: str, repeat: int) -> dict:
    import warnings

    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    warnings.filterwarnings("ignore")
    spec = json.loads((folder / "features.json").read_text())
    columns = spec["numeric"] + spec["categorical"]
    reference = pd.read_parquet(folder / "reference.parquet", columns=columns)
    current = pd.read_parquet(folder / "current.parquet", columns=columns)
    # Declared types, as our side gets them: Evidently would otherwise infer them from the data.
    definition = DataDefinition(numerical_columns=spec["numeric"], categorical_columns=spec["categorical"])
    if mode == "load":
        return {"peak_rss_mib": peak_rss_mib()}

    def run() -> dict:
        report = Report([DataDriftPreset()], include_tests=True)
        snapshot = report.run(
            current_data=Dataset.from_pandas(current, data_definition=definition),
            reference_data=Dataset.from_pandas(reference, data_definition=definition),
        )
        return snapshot.dict()

    began = time.perf_counter()
    result = run()
    first_seconds = time.perf_counter() - began
    if mode == "once":
        return {"peak_rss_mib": peak_rss_mib()}
    seconds = []
    for _ in range(repeat):
        began = time.perf_counter()
        result = run()
        seconds.append(time.perf_counter() - began)
    scores = {
        m["config"]["column"]: m["value"]
        for m in result["metrics"]
        if m["config"]["type"].endswith(":ValueDrift")
    }
    verdicts = {}
    for test in result["tests"]:
        params = test["metric_config"]["params"]
        if params.get("type", "").endswith(":ValueDrift"):
            column = params["column"]
            verdicts[column] = {
                "drift": test["status"] == "FAIL",
                "method": params["method"],
                "threshold": params["threshold"],
                "score": scores[column],
            }
    import evidently

    return {
        "first_s": first_seconds,
        "median_s": statistics.median(seconds),
        "verdicts": verdicts,
        "version": evidently.__version__,
        "pandas": pd.__version__,
    }


# --- driver, in the project venv ------------------------------------------------------------------


def run_child(python: str, side: str, folder: Path, mode: str, repeat: int) -> dict:
    command = [
        python,
        str(Path(__file__).resolve()),
        "--child",
        side,
        "--mode",
        mode,
        "--folder",
        str(folder),
        "--repeat",
        str(repeat),
    ]
    finished = subprocess.run(command, check=False, capture_output=True, text=True, cwd=PROJECT_ROOT)
    if finished.returncode != 0:
        raise SystemExit(f"{side} child ({mode}) failed:\n{finished.stderr[-3000:]}")
    return json.loads(finished.stdout.strip().splitlines()[-1])


def short_method(method: str) -> str:
    return {
        "Wasserstein distance (normed)": "wasserstein_norm",
        "Jensen-Shannon distance": "jensen_shannon",
    }.get(method, method)


def print_figures(ours: dict, theirs: dict, memory: dict[tuple[str, str], float], repeat: int) -> None:
    print(
        f"evidently {theirs['version']} (pandas {theirs['pandas']}), median of {repeat} runs after a warm-up"
    )
    print()
    print("one-off, at training time")
    profile_kib = ours["profile_bytes"] / 1024
    print(
        f"  ours: build_profile            : {ours['build_s'] * 1e3:9.1f} ms  "
        f"(profile JSON {profile_kib:.0f} KiB)"
    )
    print("per day")
    print(f"  ours: profile from_dict        : {ours['profile_load_s'] * 1e3:9.2f} ms")
    first = f"(first run in the process {ours['first_s'] * 1e3:.1f} ms)"
    print(f"  ours: compare                  : {ours['median_s'] * 1e3:9.2f} ms  {first}")
    first = f"(first run in the process {theirs['first_s'] * 1e3:.1f} ms)"
    print(f"  evidently: DataDriftPreset run : {theirs['median_s'] * 1e3:9.1f} ms  {first}")
    speedup = theirs["median_s"] / ours["median_s"]
    verdict = "MET" if speedup >= GOAL_SPEEDUP else "NOT MET"
    print(f"  speed-up evidently/ours        : {speedup:9.0f}x  (goal >= {GOAL_SPEEDUP:.0f}x: {verdict})")
    with_load = theirs["median_s"] / (ours["median_s"] + ours["profile_load_s"])
    print(f"  ... counting our profile load  : {with_load:9.0f}x")
    print("peak RSS (fresh process each)     load only    load+compare   compare's own")
    for side in ("ours", "evidently"):
        load, once = memory[(side, "load")], memory[(side, "once")]
        print(f"  {side:<31}: {load:8.1f} MiB  {once:8.1f} MiB  {once - load:+9.1f} MiB")
    ours_total, theirs_total = memory[("ours", "once")], memory[("evidently", "once")]
    print(f"  peak ratio evidently/ours      : {theirs_total / ours_total:9.1f}x  (whole process)")
    ours_delta = max(memory[("ours", "once")] - memory[("ours", "load")], 0.1)
    theirs_delta = memory[("evidently", "once")] - memory[("evidently", "load")]
    print(f"  ... compare's own peak ratio   : {theirs_delta / ours_delta:9.0f}x  (ours floored at 0.1 MiB)")


def print_verdicts(ours: dict, theirs: dict) -> None:
    header = (
        f"{'feature':<24} {'ours':<6} {'psi':>7} {'ks':>6} {'ks_p':>8}   "
        f"{'evidently':<9} {'method':<17} {'score':>7} {'thr':>5}  agree"
    )
    print(header)
    print("-" * len(header))
    disagreements = []
    for feature, mine in ours["verdicts"].items():
        other = theirs["verdicts"][feature]
        agree = mine["drift"] == other["drift"]
        if not agree:
            disagreements.append(feature)
        ks = "" if mine.get("ks_statistic") is None else f"{mine['ks_statistic']:.3f}"
        ks_p = "" if mine.get("ks_p_value") is None else f"{mine['ks_p_value']:.1e}"
        print(
            f"{feature:<24} {mine['status']:<6} {mine['psi']:7.3f} {ks:>6} {ks_p:>8}   "
            f"{'drift' if other['drift'] else 'ok':<9} {short_method(other['method']):<17} "
            f"{other['score']:7.3f} {other['threshold']:5.2f}  {'yes' if agree else 'NO'}"
        )
    ours_drift = sum(v["drift"] for v in ours["verdicts"].values())
    theirs_drift = sum(v["drift"] for v in theirs["verdicts"].values())
    print(
        f"drifting: ours {ours_drift}, evidently {theirs_drift} of {len(ours['verdicts'])}; "
        f"verdicts differ on {disagreements or 'none'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--evidently-python", default=str(PROJECT_ROOT / ".venv-bench" / "bin" / "python"))
    parser.add_argument("--child", choices=["ours", "evidently"])
    parser.add_argument("--mode", choices=["time", "load", "once"], default="time")
    parser.add_argument("--folder", type=Path)
    args = parser.parse_args()
    if args.child:
        child = child_ours if args.child == "ours" else child_evidently
        print(json.dumps(child(args.folder, args.mode, args.repeat)), flush=True)
        # Skip interpreter teardown: in .venv-bench it now and then aborts with "terminate called
        # without an active exception" (a native thread still running at exit) after the result is out.
        os._exit(0)
    if not Path(args.evidently_python).exists():
        raise SystemExit(f"no {args.evidently_python}: create .venv-bench as this script's docstring says")

    with tempfile.TemporaryDirectory(prefix="drift-bench-") as tmp:
        folder = Path(tmp)
        began = time.perf_counter()
        spec = prepare(folder)
        print(
            f"reference {REFERENCE_DAYS[0]}..{REFERENCE_DAYS[1]}: {spec['reference_rows']:,} rows; "
            f"current {CURRENT_DAY}: {spec['current_rows']:,} rows; {len(spec['numeric'])} numeric + "
            f"{len(spec['categorical'])} categorical features "
            f"(prepared in {time.perf_counter() - began:.1f} s)"
        )
        ours = run_child(sys.executable, "ours", folder, "time", args.repeat)
        theirs = run_child(args.evidently_python, "evidently", folder, "time", args.repeat)
        memory = {
            (side, mode): run_child(python, side, folder, mode, 1)["peak_rss_mib"]
            for side, python in (("ours", sys.executable), ("evidently", args.evidently_python))
            for mode in ("load", "once")
        }
    print_figures(ours, theirs, memory, args.repeat)
    print()
    print_verdicts(ours, theirs)


if __name__ == "__main__":
    main()
