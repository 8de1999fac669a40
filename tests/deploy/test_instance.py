"""The production instance (deploy/dagster.yaml): validated by Dagster's own config machinery, built
against a real Postgres, and used for a real materialization whose events land in Postgres."""

from __future__ import annotations

import copy
import importlib
from datetime import date
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._config import process_config
from dagster._core.instance.config import dagster_instance_config
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.config import pg_config
from dagster._serdes.config_class import ConfigurableClassData
from dagster_aws.s3.compute_log_manager import S3ComputeLogManager
from dagster_k8s import K8sRunLauncher
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

from mlops_assets.definitions import build_definitions
from mlops_assets.lib.landing import land_days
from mlops_assets.settings import load_settings

from .conftest import DEPLOY, read_yaml, write_kubeconfig
from .postgres_server import PostgresServer

PROD_DAGSTER_YAML = DEPLOY / "dagster.yaml"
FLIGHTS = dg.AssetKey(["raw", "flights"])
WEATHER = dg.AssetKey(["raw", "weather"])
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


def validated_instance_config(config: dict, home: Path) -> dict:
    """``config`` validated as Dagster validates an instance: the top-level schema, then each
    configurable class (run coordinator, launcher, ...) against its own schema, env vars resolved."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    validated, custom_instance_class = dagster_instance_config(str(home))
    assert custom_instance_class is None
    sections = [key for key, value in validated.items() if isinstance(value, dict) and "class" in value]
    assert {"run_coordinator", "run_launcher", "compute_logs"} <= set(sections)
    for section in sections:
        data = ConfigurableClassData(
            validated[section]["module"],
            validated[section]["class"],
            yaml.safe_dump(validated[section].get("config") or {}),
        )
        klass = getattr(importlib.import_module(data.module_name), data.class_name)
        result = process_config(klass.config_type(), data.config_dict)
        assert result.success, f"{section}: {[e.message for e in result.errors]}"
    storage = process_config(pg_config(), validated["storage"]["postgres"])
    assert storage.success, [e.message for e in storage.errors]
    return {**validated, "storage": {"postgres": storage.value}}


def prod_config_on(server: PostgresServer) -> dict:
    """The production config with only the port changed: the throwaway server runs on a free port,
    5432 may belong to a system Postgres."""
    config = read_yaml(PROD_DAGSTER_YAML)
    config["storage"]["postgres"]["postgres_db"]["port"] = server.port
    return config


def test_production_config_is_valid_and_reads_every_credential_from_the_environment(tmp_path, monkeypatch):
    env = {
        "DAGSTER_PG_HOST": "pg.internal",
        "DAGSTER_PG_USERNAME": "dagster",
        "DAGSTER_PG_PASSWORD": "pw-from-env",
        "DAGSTER_PG_DB": "dagster",
        "DAGSTER_COMPUTE_LOGS_BUCKET": "logs-bucket",
        "DAGSTER_COMPUTE_LOGS_PREFIX": "mlops-assets",
        "DAGSTER_COMPUTE_LOGS_ENDPOINT": "https://s3.internal",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    config = read_yaml(PROD_DAGSTER_YAML)
    validated = validated_instance_config(config, tmp_path / "home")

    db = validated["storage"]["postgres"]["postgres_db"]
    assert (db["hostname"], db["username"], db["password"], db["db_name"]) == (
        "pg.internal",
        "dagster",
        "pw-from-env",
        "dagster",
    )
    assert config["storage"]["postgres"]["postgres_db"]["password"] == {"env": "DAGSTER_PG_PASSWORD"}
    # Pinned driver: with SQLAlchemy >= 2.1 a bare postgresql:// would pick psycopg 3, which
    # dagster-postgres' NOTIFY statements do not work with.
    assert db["scheme"] == "postgresql+psycopg2"
    assert validated["run_launcher"]["class"] == "K8sRunLauncher"
    assert validated["run_coordinator"]["class"] == "QueuedRunCoordinator"
    # Freshness is on by default since Dagster 1.12: no switch for it.
    assert "freshness" not in config
    # Step output goes to the S3-compatible bucket the environment names.
    assert validated["compute_logs"]["class"] == "S3ComputeLogManager"
    logs = process_config(S3ComputeLogManager.config_type(), validated["compute_logs"]["config"]).value
    assert (logs["bucket"], logs["prefix"], logs["endpoint_url"]) == (
        "logs-bucket",
        "mlops-assets",
        "https://s3.internal",
    )
    assert validated["telemetry"] == {"enabled": False}

    # Without the password variable the storage config cannot be resolved: it is read from the env.
    monkeypatch.delenv("DAGSTER_PG_PASSWORD")
    unresolved = process_config(pg_config(), config["storage"]["postgres"])
    assert not unresolved.success
    assert "DAGSTER_PG_PASSWORD" in " ".join(error.message for error in unresolved.errors)


def test_production_instance_builds_on_postgres_with_its_k8s_run_launcher(tmp_path, postgres, pg_env):
    config = prod_config_on(postgres)
    validated_instance_config(config, tmp_path / "validated")
    # Outside a cluster the launcher reads a kubeconfig instead; nothing contacts its server.
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig")
    config["run_launcher"]["config"].update(load_incluster_config=False, kubeconfig_file=str(kubeconfig))
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))

    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
        launcher = instance.run_launcher
        assert isinstance(launcher, K8sRunLauncher)
        assert launcher.job_namespace == "dagster"
        assert launcher.env_secrets == [
            "mlops-lakefs",
            "mlops-mlflow",
            "mlops-warehouse",
            "mlops-compute-logs",
        ]
        assert launcher.service_account_name == "mlops-runs"
        concurrency = instance.get_concurrency_config()
        assert concurrency.run_queue_config.max_concurrent_runs == 8
        assert not concurrency.run_queue_config.tag_concurrency_limits
        # Every pool (training, duckdb_warehouse) runs one step at a time unless given its own limit.
        assert concurrency.pool_config.default_pool_limit == 1
        assert concurrency.pool_config.pool_granularity.value == "op"
        assert instance.freshness_enabled
        logs = instance.compute_log_manager
        assert isinstance(logs, S3ComputeLogManager)
        assert (logs._s3_bucket, logs._s3_prefix) == (pg_env["DAGSTER_COMPUTE_LOGS_BUCKET"], "mlops-assets")
        # A run whose pod dies is failed by run monitoring and retried once; data failures are not.
        assert instance.run_monitoring_enabled and instance.run_retries_enabled
        assert instance.run_retries_max_retries == 1
        assert instance.get_settings("run_retries")["retry_on_asset_or_op_failure"] is False
        assert not instance.telemetry_enabled


@pytest.mark.slow
def test_materialization_is_recorded_in_postgres(tmp_path, postgres, pg_env):
    config = prod_config_on(postgres)
    validated_instance_config(config, tmp_path / "validated")
    # No cluster here: runs launch in-process instead of as Kubernetes Jobs; everything else is prod.
    local = copy.deepcopy(config)
    local["run_launcher"] = {"module": "dagster.core.launcher", "class": "DefaultRunLauncher"}
    # ...and no S3-compatible server: step output stays local.
    local["compute_logs"] = {
        "module": "dagster.core.storage.noop_compute_log_manager",
        "class": "NoOpComputeLogManager",
    }
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(local))

    settings = load_settings({"MLOPS_HOME": str(tmp_path / "mlops")})
    land_days(settings.landing_dir, date(2013, 1, 1), date(2013, 1, 2))
    defs = build_definitions(settings)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        result = defs.resolve_job_def("raw_daily").execute_in_process(
            instance=instance,
            tags={
                "dagster/asset_partition_range_start": "2013-01-01",
                "dagster/asset_partition_range_end": "2013-01-02",
            },
            run_config=QUIET,
        )
        assert result.success
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)

        # Read back through the instance...
        assert instance.get_latest_materialization_event(FLIGHTS).run_id == result.run_id
        for key in (FLIGHTS, WEATHER):
            assert instance.get_materialized_partitions(key) == {"2013-01-01", "2013-01-02"}
            (check,) = instance.event_log_storage.get_asset_check_execution_history(
                dg.AssetCheckKey(key, "contract"),
                limit=10,
                status={AssetCheckExecutionRecordStatus.SUCCEEDED},
            )
            assert check.run_id == result.run_id
            assert check.evaluation.passed and check.evaluation.blocking

    # ...and straight from Postgres: the events are rows there, not in a local file.
    counts = dict(
        postgres.query(
            pg_env["DAGSTER_PG_DB"],
            "SELECT dagster_event_type, count(*) FROM event_logs"
            " WHERE run_id = %s GROUP BY dagster_event_type",
            (result.run_id,),
        )
    )
    # Two assets, two days: each staged by its step, then published by its check (the version main holds).
    assert counts[dg.DagsterEventType.ASSET_MATERIALIZATION.value] == 8
    # Two contract checks, and the anomalies check of each daily table (raw/flights, raw/weather).
    assert counts[dg.DagsterEventType.ASSET_CHECK_EVALUATION.value] == 4
    assert counts[dg.DagsterEventType.RUN_SUCCESS.value] == 1
