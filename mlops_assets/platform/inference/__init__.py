"""Batch predictions: ``predictions/<spec>`` (daily), scored by the champion of each spec."""

import time
from typing import Any

import dagster as dg

from mlops_assets.errors import MlopsError
from mlops_assets.lib.features import row_day
from mlops_assets.lib.lazy_polars import pl
from mlops_assets.lib.lifecycle import published_versions
from mlops_assets.lib.model_spec import ModelSpec
from mlops_assets.lib.tracking import CHAMPION
from mlops_assets.lib.tracking.artifacts import audited_model
from mlops_assets.platform.automation.conditions import every_partition_eager
from mlops_assets.platform.contract_checks import publishing_contract_check
from mlops_assets.platform.features import FEATURES_KEY
from mlops_assets.platform.models.assets import model_key
from mlops_assets.platform.partitions import DAILY_ASSET
from mlops_assets.platform.run_resources import op_tags
from mlops_assets.resources import VersionedStoreResource
from mlops_assets.resources.io_manager import ALLOW_MISSING_PARTITIONS, withhold
from mlops_assets.resources.mlflow import MlflowResource

PREDICTIONS_CODE_VERSION = "1"


def predictions_key(spec: ModelSpec) -> dg.AssetKey:
    return dg.AssetKey(["predictions", spec.name])


def predictions_contract(spec: ModelSpec):
    def contract():
        import pandera.polars as pa

        score_checks = [pa.Check.in_range(0, 1)] if spec.task == "classification" else []
        return pa.DataFrameSchema(
            {
                "flight_id": pa.Column(pl.String(), unique=True),
                "date": pa.Column(pl.Date()),
                "score": pa.Column(
                    pl.Float64(),
                    [
                        *score_checks,
                        pa.Check(lambda d: d.lazyframe.select(pl.col(d.key).is_finite()), name="finite"),
                    ],
                ),
                "prediction": pa.Column(pl.Float64()),
                "model_name": pa.Column(pl.String(), pa.Check.equal_to(spec.name)),
                "model_version": pa.Column(pl.Int64(), pa.Check.gt(0)),
            },
            strict=True,
            name=f"predictions/{spec.name}",
        )

    return contract


def _predictions_asset(spec: ModelSpec) -> dg.AssetsDefinition:
    @dg.asset(
        key=predictions_key(spec),
        ins={"features": dg.AssetIn(FEATURES_KEY, metadata={ALLOW_MISSING_PARTITIONS: True})},
        deps=[model_key(spec)],
        **DAILY_ASSET,
        group_name="predictions",
        owners=spec.owners,
        kinds={"scikit-learn", "mlflow", "parquet"},
        code_version=PREDICTIONS_CODE_VERSION,
        op_tags=op_tags("scoring"),
        # A new champion scores new days; history keeps the version that scored it; the days the
        # model was trained on are not scored as new traffic unless the spec asks for it.
        # The days after its training window that exist when a model first appears are requested
        # by the serve_new_models sensor.
        automation_condition=every_partition_eager(
            ignore_updates_of=dg.AssetSelection.assets(model_key(spec))
        ),
        description=(
            f"Daily {'probability of ' + spec.target if spec.task == 'classification' else 'predicted ' + spec.target} "
            f"for every scheduled flight, scored by the version of '{spec.name}' that holds the 'champion' alias "
            "when the run starts (resolved once per run and recorded on every row). Metadata: latency per 100 "
            "records (p50/p95) and volume (rows scored = model calls)."
        ),
        metadata={
            "dagster/column_schema": dg.TableSchema(
                columns=[
                    dg.TableColumn(
                        "flight_id", "String", description="stable flight key (features/flight_features)"
                    ),
                    dg.TableColumn("date", "Date", description="flight date (the partition)"),
                    dg.TableColumn(
                        "score", "Float64", description="probability (classification) or predicted value"
                    ),
                    dg.TableColumn(
                        "prediction", "Float64", description="class at threshold 0.5, or the predicted value"
                    ),
                    dg.TableColumn("model_name", "String", description="registered model"),
                    dg.TableColumn(
                        "model_version", "Int64", description="registered version that scored the row"
                    ),
                ]
            )
        },
    )
    def _predictions(
        context: dg.AssetExecutionContext,
        features: Any,
        mlflow: MlflowResource,
        store: VersionedStoreResource,
    ) -> Any:
        from mlops_assets.lib.scoring import score_range  # numpy: imported by the step, not at load

        tracker = mlflow.tracker()
        champion = tracker.version_with_alias(spec.name, CHAMPION)
        if champion is None:
            raise MlopsError(
                f"predictions/{spec.name}: model '{spec.name}' has no 'champion' version in {tracker!r}; "
                f"materialize models/{spec.name} first"
            )
        # Only a version the audited models/<spec> table holds, with the bytes it recorded, scores.
        audited = audited_model(
            spec.name, published_versions(store.open(), spec.name), champion.version, alias=CHAMPION
        )
        version = audited.version
        model = tracker.load_model(audited)
        scored_at = time.time()
        ready = {day: features[day] for day in context.partition_keys if day in features}
        scored = score_range(spec, model, ready, version)
        tables: dict[str, Any] = {}
        for day in context.partition_keys:
            if day not in scored:
                tables[day] = withhold(
                    context.partition_keys,
                    f"features/flight_features partition {day} is not published on main",
                )
                continue
            tables[day] = scored[day].table
            context.add_asset_metadata(
                {
                    "model_version": int(version),
                    "rows_scored": float(scored[day].table.height),
                    "latency_ms_per_100_p50": scored[day].p50_ms,
                    "latency_ms_per_100_p95": scored[day].p95_ms,
                    "mean_score": float(scored[day].table["score"].mean() or 0.0),
                    # When, as metadata: the table holds only what the inputs determine.
                    "scored_at": dg.MetadataValue.timestamp(scored_at),
                },
                partition_key=day,
            )
        context.log.info(
            f"scored {sum(s.table.height for s in scored.values())} rows with {spec.name} v{version}"
        )
        return tables

    return _predictions


def build_defs(spec: ModelSpec) -> dg.Definitions:
    return dg.Definitions(
        assets=[_predictions_asset(spec)],
        asset_checks=[
            publishing_contract_check(predictions_key(spec), predictions_contract(spec), row_day=row_day)
        ],
    )
