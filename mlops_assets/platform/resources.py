"""Resources chosen per environment, in one place, from settings."""

from __future__ import annotations

import os
from collections.abc import Callable

import dagster as dg

from mlops_assets.lib.redaction import SecretUrl
from mlops_assets.lib.versioned_store.wap import RunState
from mlops_assets.platform.executor import executor_for
from mlops_assets.resources import LandingZoneResource, VersionedParquetIOManager, VersionedStoreResource
from mlops_assets.resources.alerts import AlertResource
from mlops_assets.resources.mlflow import MlflowResource
from mlops_assets.settings import Settings


def store_resource(settings: Settings) -> VersionedStoreResource:
    if settings.store_backend == "lakefs":
        assert settings.lakefs is not None
        return VersionedStoreResource(
            backend="lakefs",
            repository=settings.lakefs.repository,
            lakefs_endpoint=settings.lakefs.endpoint,
            # A code server (MLOPS_ROLE=code-server) loads without the keys: run pods read them.
            lakefs_access_key_id=settings.lakefs.access_key_id or dg.EnvVar("LAKEFS_ACCESS_KEY_ID"),
            lakefs_secret_access_key=dg.EnvVar("LAKEFS_SECRET_ACCESS_KEY"),
            lakefs_storage_namespace=settings.lakefs.storage_namespace,
            ui_url=settings.ui_url,
            objects_url=settings.store_ui_url,
        )
    return VersionedStoreResource(
        backend="local",
        local_dir=str(settings.local_store_dir),
        ui_url=settings.ui_url,
        objects_url=settings.store_ui_url,
    )


def dagster_run_state(instance: dg.DagsterInstance) -> Callable[[str], RunState | None]:
    """What the instance knows of a run, for cleaning up the WAP branches it made."""

    def state(run_id: str) -> RunState | None:
        record = instance.get_run_record_by_id(run_id)
        if record is None:
            return None
        started = record.start_time or record.create_timestamp.timestamp()
        return RunState(in_progress=not record.dagster_run.is_finished, started_at=started)

    return state


def _from_environment(variable: str, setting: SecretUrl | None) -> str | dg.EnvVar:
    """A setting that may hold a secret reaches its resource as the variable's name, resolved when
    the run starts: the repository snapshot (the UI's Resources page) and the job's stored
    configuration hold the name, never the value. Whitespace around the value (the newline that
    `kubectl create secret --from-file` leaves) is the resource's to strip."""
    if setting is None:
        return ""
    value = setting.get_secret_value()
    return dg.EnvVar(variable) if os.environ.get(variable, "").strip() == value else value


def build_defs(settings: Settings) -> dg.Definitions:
    store = store_resource(settings)
    return dg.Definitions(
        executor=executor_for(settings),
        resources={
            "store": store,
            "io_manager": VersionedParquetIOManager(store=store),
            "landing": LandingZoneResource(
                directory=str(settings.landing_dir),
                min_volume_share=settings.min_volume_share,
                max_cancelled_share=settings.max_cancelled_share,
            ),
            "alerts": AlertResource(
                webhook_url=_from_environment("MLOPS_ALERT_WEBHOOK_URL", settings.alert_webhook_url)
            ),
            "mlflow": MlflowResource(
                tracking_uri=_from_environment("MLFLOW_TRACKING_URI", settings.mlflow_tracking_uri),
                # A local tracking store keeps artifacts under MLOPS_HOME; a server decides its own.
                artifact_root=""
                if settings.mlflow_tracking_uri.get_secret_value().startswith("http")
                else str(settings.mlflow_artifact_dir),
                git_sha=settings.git_sha or "",
                ui_url=settings.mlflow_ui_url or "",
            ),
        },
    )
