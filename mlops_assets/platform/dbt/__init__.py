"""``dbt/*``: the analysts' dbt project (``dbt_project/``, dbt-duckdb) as Dagster assets.

Sources are our published tables (``meta.dagster.asset_key``), so the graph runs
raw -> features -> predictions/monitoring -> dbt staging -> dbt marts. The marts live in the
DuckDB file of the state, or in Postgres when MLOPS_WAREHOUSE_PG_* is set (production: the pods'
DuckDB files do not outlive them). Every run first holds the warehouse (one writer at a time), syncs
the Parquet mirror of main (one pinned commit, recorded on each materialization), then runs
``dbt build`` over the run's partition window (vars ``min_date``/``max_date``): incremental marts
rebuild only that window, dbt tests become asset checks (failing rows counted), and a broken
model fails the run with dbt's error while independent models still build. A run that Postgres
cancelled on the writer role's ``lock_timeout`` (a lock held by another session) is retried, a
bounded number of times (MLOPS_DBT_LOCK_RETRIES); no other failure is.
"""

import json
import uuid
from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliInvocation,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)

from mlops_assets.errors import SettingsError, WarehouseLockTimeout
from mlops_assets.lib.analytics import (
    DbtWarehouse,
    dbt_executable,
    dbt_run,
    lock_timeout_failures,
    manifest_is_stale,
)
from mlops_assets.platform.automation.conditions import gated_by
from mlops_assets.platform.partitions import DAILY_ASSET
from mlops_assets.resources import VersionedStoreResource
from mlops_assets.settings import Settings

KEY_PREFIX = "dbt"
GROUP = "dbt"
OWNERS = ["team:analytics"]
# Production limits every pool to one step at a time (deploy/dagster.yaml `concurrency`), so dbt
# steps queue in Dagster; correctness does not depend on it: each run holds the warehouse lock (a
# file lock, or with Postgres a lock on a table only the writer role may lock, across pods).
POOL = "duckdb_warehouse"


PER_MODEL = "{model}"  # in a source's meta.mlops.per_model: the model's name in its asset key


class PlatformDbtTranslator(DagsterDbtTranslator):
    """dbt models as ``dbt/<model>`` in group ``dbt``, daily, following their upstream partitions.

    A source over every model's tables (``meta.mlops.per_model``, e.g. ``[predictions, "{model}"]``)
    stands for one asset per model: a dbt model reading it depends on each of them. Every dbt
    model also depends on the day's complete monitoring (``gate``: ``monitoring/daily_reports``,
    every model's report of the day): a day's marts are built once, when the day has been scored
    and monitored, not after each upstream step; a model that reads only dimensions is not
    requested for every day of the year; and each mart's automation looks at one dependency,
    not one per model.
    """

    def __init__(self, models: list[str], gate: list[dg.AssetKey]):
        super().__init__(DagsterDbtTranslatorSettings(enable_asset_checks=True, enable_code_references=True))
        self._models = models
        self._gate = gate

    def _per_model(self, key: dg.AssetKey) -> list[dg.AssetKey]:
        """The model assets a per-model source key stands for (itself for any other key)."""
        if PER_MODEL not in key.path:
            return [key]
        return [dg.AssetKey([part.replace(PER_MODEL, model) for part in key.path]) for model in self._models]

    def get_asset_spec(
        self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None
    ) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        if unique_id.startswith("source."):
            return spec
        deps = [dg.AssetDep(key) for dep in spec.deps for key in self._per_model(dep.asset_key)]
        present = {dep.asset_key for dep in deps}
        return spec.replace_attributes(deps=[*deps, *[key for key in self._gate if key not in present]])

    def _is_source(self, props: Mapping[str, Any]) -> bool:
        return props["resource_type"] == "source"

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if self._is_source(dbt_resource_props):
            per_model = dbt_resource_props.get("meta", {}).get("mlops", {}).get("per_model")
            return dg.AssetKey(per_model) if per_model else super().get_asset_key(dbt_resource_props)
        return super().get_asset_key(dbt_resource_props).with_prefix(KEY_PREFIX)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return None if self._is_source(dbt_resource_props) else GROUP

    def get_owners(self, dbt_resource_props: Mapping[str, Any]):
        return None if self._is_source(dbt_resource_props) else OWNERS

    def get_automation_condition(
        self, dbt_resource_props: Mapping[str, Any]
    ) -> dg.AutomationCondition | None:
        if self._is_source(dbt_resource_props):
            return None
        # A day's marts follow its complete monitoring (the last step of the day's chain): a new model
        # version or a dimension refresh does not rebuild the whole year, day by day.
        return gated_by(dg.AssetSelection.assets(*self._gate))


def dbt_project(settings: Settings) -> DbtProject:
    if not (settings.dbt_project_dir / "dbt_project.yml").exists():
        raise SettingsError(f"MLOPS_DBT_PROJECT_DIR={settings.dbt_project_dir}: no dbt_project.yml there")
    project = DbtProject(project_dir=settings.dbt_project_dir, profiles_dir=settings.dbt_project_dir)
    # The manifest is built offline by `dbt parse` (no network, no warehouse): at image build in
    # production, here on first load or after the project changed.
    if manifest_is_stale(project.project_dir, project.manifest_path):
        DbtCliResource(project_dir=project, dbt_executable=dbt_executable()).cli(
            ["parse", "--quiet"], target_path=project.target_path
        ).wait()
    return project


def dbt_warehouse(settings: Settings) -> DbtWarehouse:
    """Where this deployment's dbt runs write the marts (the CLI's runs too)."""
    return DbtWarehouse(
        path=settings.dbt_warehouse_path, published_dir=settings.published_dir, pg=settings.warehouse_pg
    )


def partition_vars(context: dg.AssetExecutionContext) -> dict[str, str]:
    window = context.partition_time_window
    last_day = window.end - timedelta(days=1)  # the window's end is exclusive
    return {"min_date": window.start.date().isoformat(), "max_date": last_day.date().isoformat()}


def run_results(invocation: DbtCliInvocation) -> Mapping[str, Any]:
    """The invocation's run_results.json; empty when dbt failed before writing it."""
    try:
        return invocation.get_artifact("run_results.json")
    except (OSError, ValueError):
        return {}


def retry_on_lock_timeout(
    context: dg.AssetExecutionContext,
    settings: Settings,
    warehouse: DbtWarehouse,
    invocation: DbtCliInvocation,
) -> None:
    """Request a retry of a failed dbt step when, and only when, Postgres cancelled its writes on
    ``lock_timeout``; after MLOPS_DBT_LOCK_RETRIES retries, fail with one error saying so.

    A retry is safe: dbt-duckdb replaces each mart's table, and deletes and inserts an incremental
    window, inside one transaction, which Postgres rolled back whole (readers saw the old table).
    """
    locked = lock_timeout_failures(run_results(invocation))
    if not locked:
        return
    error = invocation.get_error()
    attempt, retries = context.retry_number + 1, settings.dbt_lock_retries
    what = (
        f"dbt could not replace {', '.join(locked)} in {warehouse.describe()}: Postgres cancelled it on the "
        "writer role's lock_timeout, as a lock on the table is held by someone else (an analyst's open "
        "transaction, or another session)"
    )
    if context.retry_number < retries:
        # Logged here: Dagster shows the step's retry, not why this one was asked for.
        context.log.warning(
            f"{what}; retrying in {settings.dbt_lock_retry_wait_s:.0f} s "
            f"(attempt {attempt} of at most {retries + 1} failed; MLOPS_DBT_LOCK_RETRIES={retries})"
        )
        raise dg.RetryRequested(
            max_retries=retries, seconds_to_wait=settings.dbt_lock_retry_wait_s
        ) from error
    raise WarehouseLockTimeout(
        f"{what}; gave up after {attempt} attempts (MLOPS_DBT_LOCK_RETRIES={retries}): find the holder in "
        "pg_locks / pg_stat_activity, then re-execute the step"
    ) from error


def build_defs(settings: Settings, models: list[str], gate: list[dg.AssetKey]) -> dg.Definitions:
    project = dbt_project(settings)
    warehouse = dbt_warehouse(settings)

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        name="dbt_analytics",
        dagster_dbt_translator=PlatformDbtTranslator(models, gate),
        **DAILY_ASSET,
        pool=POOL,
    )
    def dbt_analytics(
        context: dg.AssetExecutionContext, dbt: DbtCliResource, store: VersionedStoreResource
    ) -> Iterator[Any]:
        with dbt_run(store.open(), warehouse, project.project_dir, log=context.log.info) as run:
            mirror = run.mirror
            dbt_vars = {**run.profile_vars, **partition_vars(context)}  # profile_vars: read by profiles.yml
            window = f"{dbt_vars['min_date']}..{dbt_vars['max_date']}"
            context.log.info(
                f"dbt reads main at commit {mirror.commit_id[:12]} ({mirror.objects} objects, {mirror.copied} copied, "
                f"{mirror.removed} removed) for {window}"
            )
            provenance = {"source_commit": mirror.commit_id, "partition_window": window}
            # dbt's artifacts and logs go to the state directory: the project is read-only in a pod.
            target = warehouse.path.parent / "target" / f"{context.run_id[:8]}-{uuid.uuid4().hex[:8]}"
            invocation = dbt.cli(
                ["build", "--vars", json.dumps(dbt_vars)],
                context=context,
                target_path=target,
                raise_on_error=False,  # a lock timeout is retried, any other failure raised below
            )
            for event in invocation.stream():
                yield (
                    event.with_metadata({**event.metadata, **provenance})
                    if isinstance(event, dg.Output)
                    else event
                )
            if not invocation.is_successful():
                retry_on_lock_timeout(context, settings, warehouse, invocation)
                raise invocation.get_error()

    return dg.Definitions(
        assets=[dbt_analytics],
        resources={
            "dbt": DbtCliResource(
                project_dir=project,
                target=warehouse.target,
                dbt_executable=dbt_executable(),
            )
        },
    )
