"""The code location loads, and its asset graph matches the reviewed snapshot."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import dagster as dg

from tests.conftest import PROJECT_ROOT

SNAPSHOT = PROJECT_ROOT / "tests" / "snapshots" / "asset_graph.json"


def describe_graph(defs: dg.Definitions) -> dict:
    """Everything about the asset graph a reviewer should see change: keys, deps, partitions, checks."""
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        spec = node.to_asset_spec() if hasattr(node, "to_asset_spec") else None
        partitions = node.partitions_def
        assets[key.to_user_string()] = {
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
            "partitions": (
                {
                    "type": type(partitions).__name__,
                    "first": partitions.get_first_partition_key(),
                    "last": partitions.get_last_partition_key(),
                }
                if partitions
                else None
            ),
            "group": node.group_name,
            "kinds": sorted(node.kinds),
            "owners": list(node.owners),
            "code_version": node.code_version,
            "backfill_policy": str(node.backfill_policy) if node.backfill_policy else None,
            "automation_condition": str(node.automation_condition) if node.automation_condition else None,
            "freshness_policy": str(getattr(spec, "freshness_policy", None))
            if spec and getattr(spec, "freshness_policy", None)
            else None,
            "checks": sorted(
                f"{c.name}{' (blocking)' if graph.get_check_spec(c).blocking else ''}"
                for c in graph.asset_check_keys
                if c.asset_key == key
            ),
        }
    checks = sorted(f"{k.asset_key.to_user_string()}:{k.name}" for k in graph.asset_check_keys)
    jobs = sorted(j.name for j in defs.resolve_all_job_defs() if not j.name.startswith("__"))
    return {"assets": assets, "checks": checks, "jobs": jobs}


def test_asset_graph_matches_snapshot(defs):
    """A missing snapshot fails (CI must compare against a reviewed file); only UPDATE_SNAPSHOTS=1 writes it."""
    current = describe_graph(defs)
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
    assert SNAPSHOT.exists(), f"{SNAPSHOT} is missing: review the graph and write it with UPDATE_SNAPSHOTS=1"
    assert current == json.loads(SNAPSHOT.read_text()), (
        "asset graph changed: review it and run UPDATE_SNAPSHOTS=1 pytest tests/test_code_location.py"
    )


def test_every_asset_is_documented_and_owned(defs):
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.description and len(node.description) > 40, key
        assert node.owners, key
        assert node.group_name == key.path[0], f"{key}: the folder/group must be the key prefix"
        storage = "duckdb" if key.path[0] == "dbt" else "parquet"  # dbt models live in the DuckDB warehouse
        assert storage in node.kinds, f"{key}: stored as {storage}"


def test_code_location_loads_with_dagster_itself(tmp_path):
    """`dagster definitions validate` loads workspace.yaml the way `dagster dev` does."""
    env = {**os.environ, "MLOPS_HOME": str(tmp_path / "mlops"), "DAGSTER_HOME": str(tmp_path / "dh")}
    (tmp_path / "dh").mkdir()
    done = subprocess.run(
        [
            os.path.join(os.path.dirname(sys.executable), "dagster"),
            "definitions",
            "validate",
            "-w",
            "workspace.yaml",
        ],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "mlops_assets" in done.stdout + done.stderr


# What the steps use and the graph does not: each is imported by the step (or the check, or the dbt
# run) that needs it. The webserver, the daemon, the code server and every run worker load the code
# location; at 100 models that load is what they wait for (benchmarks/README.md, section 1).
NOT_AT_LOAD = (
    "polars",
    "pyarrow",
    "sklearn",
    "pandera",
    "mlflow",
    "scipy",
    "numpy",
    "skops",
    "duckdb",
    "psycopg2",
    # The S3 compute logs' package (boto3): a run's own instance imports it, never the definitions.
    # Dagster's load_from_defs_folder imports every package that registers components, for the UI's
    # catalogue of component types (mlops_assets/definitions.py, load_models).
    "dagster_aws",
    "boto3",
    # (dbt's selector and networkx are imported at load: dagster-dbt evaluates even the default
    # selection with dbt-core's selector; benchmarks/README.md has the upstream issue)
)


def test_loading_the_code_location_imports_none_of_what_only_steps_use(tmp_path, monkeypatch):
    """The first load of a new spec validates its estimator with scikit-learn and remembers the
    answer ($MLOPS_HOME/cache, made with the instance); every load after it imports none of them."""
    from mlops_assets.instance import prepare_instance
    from mlops_assets.settings import load_settings

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dh"))  # prepare_instance sets it: restored after
    home = prepare_instance(load_settings({"MLOPS_HOME": str(tmp_path / "mlops")}))
    env = {**os.environ, "MLOPS_HOME": str(tmp_path / "mlops"), "DAGSTER_HOME": str(home)}
    probe = (
        "import sys; import mlops_assets.definitions as d; d.defs.resolve_asset_graph(); "
        "print(' '.join(m for m in sys.argv[1:] if m in sys.modules) or 'none')"
    )

    def load() -> str:
        done = subprocess.run(
            [sys.executable, "-c", probe, *NOT_AT_LOAD],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout.strip().splitlines()[-1]

    first, then = load(), load()
    assert "sklearn" in first.split()  # the new specs' estimators, validated once
    assert then == "none", f"imported at load: {then}"


def test_training_runs_and_steps_ask_for_more_memory_than_scoring(defs):
    """Kubernetes pod sizes travel as dagster-k8s/config tags (mlops_assets/run_pod_resources.yaml)."""

    def memory_gib(tags: dict) -> float:
        limit = json.loads(tags["dagster-k8s/config"])["container_config"]["resources"]["limits"]["memory"]
        return float(limit.removesuffix("Gi"))

    training, scoring = defs.resolve_job_def("train_models").tags, defs.resolve_job_def("daily_assets").tags
    assert training["mlops/kind"] == "training" and scoring["mlops/kind"] == "scoring"
    assert memory_gib(training) > memory_gib(scoring)
    model_step = defs.resolve_assets_def(dg.AssetKey(["models", "late_arrival"])).op.tags
    scoring_step = defs.resolve_assets_def(dg.AssetKey(["predictions", "late_arrival"])).op.tags
    assert memory_gib(model_step) > memory_gib(scoring_step)


def test_launchpad_offers_manual_retraining_and_monitoring_rebuilds(defs, instance):
    job = defs.resolve_job_def("retrain_late_arrival_now")
    assert job.tags["mlops/retrain_reason"] == "manual override" and job.tags["mlops/trigger"] == "manual"
    assert {k.to_user_string() for k in job.asset_layer.executable_asset_keys} == {"models/late_arrival"}
    rebuild = defs.resolve_job_def("rebuild_monitoring")
    assert {k.to_user_string() for k in rebuild.asset_layer.executable_asset_keys} == {
        "monitoring/late_arrival/daily_report",
        "monitoring/arrival_delay/daily_report",
        "monitoring/daily_reports",
    }
    assert rebuild.partitions_def is not None  # a range is launched as a backfill


def test_every_asset_links_to_the_code_that_computes_it(defs):
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        references = graph.get(key).metadata["dagster/code_references"].code_references
        files = [PROJECT_ROOT.joinpath(r.file_path) for r in references]
        assert files and all(f.is_file() for f in files), key
        if key.path[0] == "dbt":  # the model's SQL file, not only the Python wrapper
            assert any(f.suffix == ".sql" and f.stem == key.path[-1] for f in files), key


def test_feature_columns_have_lineage_to_raw_columns_that_exist(defs):
    from mlops_assets.lib.features import COLUMNS
    from mlops_assets.lib.tables import TABLES

    node = defs.resolve_asset_graph().get(dg.AssetKey(["features", "flight_features"]))
    lineage = node.metadata["dagster/column_lineage"].deps_by_column
    assert set(lineage) == set(COLUMNS)
    for column, deps in lineage.items():
        assert deps, column
        for dep in deps:
            assert dep.asset_key in node.parent_keys, (column, dep.asset_key)
            assert dep.column_name in TABLES[dep.asset_key.path[-1]].columns, (column, dep)
