"""``ModelComponent``: one model is one folder, ``defs/models/<name>/defs.yaml``.

The file's ``attributes`` are a ``ModelSpec`` (its schema, so ``dg check yaml`` validates the
fields); ``build_defs`` returns everything that belongs to that one model: ``models/<name>``
with its checks, ``predictions/<name>``, ``monitoring/<name>/daily_report`` and ``summary``
with their contract checks, and its launchpad job ``retrain_<name>_now``. Cross-model pieces
(the retrain and serving sensors, the dbt gates, the jobs over every model) find the models in
the loaded definitions (``models_in``).

Add a model: ``dg scaffold defs mlops_assets.ModelComponent models/<name>``, edit the spec,
``dg check defs``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

import dagster as dg
from pydantic import BaseModel

from mlops_assets.lib.model_spec import (
    SPEC_FILE,
    EstimatorValidationCache,
    ModelSpec,
    SpecError,
    load_spec,
)
from mlops_assets.platform.models.assets import SPEC_METADATA


class ModelScaffoldParams(BaseModel):
    task: Literal["classification", "regression"] = "classification"


class ModelScaffolder(dg.Scaffolder[ModelScaffoldParams]):
    """A working spec named after its folder (``--json-params '{"task": "regression"}'`` for a regressor)."""

    @classmethod
    def get_scaffold_params(cls) -> type[ModelScaffoldParams]:
        return ModelScaffoldParams

    def scaffold(self, request: dg.ScaffoldRequest[ModelScaffoldParams]) -> None:
        name = request.target_path.name
        task = request.params.task if request.params else "classification"
        request.target_path.mkdir(parents=True, exist_ok=True)
        (request.target_path / SPEC_FILE).write_text(
            _TEMPLATE[task].format(name=name, type=request.type_name)
        )


@dg.scaffold_with(ModelScaffolder)
@dataclass(frozen=True)
class ModelComponent(dg.Component, dg.Resolvable):
    """A model: its spec (task, target, features, estimator, training window, promotion, monitoring,
    freshness, serving) and everything Dagster needs to train, serve and monitor it."""

    spec: ModelSpec
    spec_file: Path

    @classmethod
    def model(cls) -> type[BaseModel]:
        return ModelSpec

    @classmethod
    def load(cls, attributes: Any, context: dg.ComponentLoadContext) -> ModelComponent:
        validated = _validation_cache()
        component = cls.from_file(context.path / SPEC_FILE, validated)
        validated.save()
        return component

    @classmethod
    def from_file(cls, spec_file: Path, validated=None) -> ModelComponent:
        """Read and judge the spec ourselves: one error naming file, line and field, whatever loads it."""
        return cls(spec=load_spec(spec_file, validated), spec_file=spec_file)

    def build_defs(self, context: dg.ComponentLoadContext | None = None) -> dg.Definitions:
        from mlops_assets.platform.models import build_model_defs

        return build_model_defs(self.spec, self.spec_file)


@cache
def _validation_cache() -> EstimatorValidationCache:
    from mlops_assets.instance import estimator_cache_dir
    from mlops_assets.settings import current_settings

    return EstimatorValidationCache(estimator_cache_dir(current_settings()) / "validated_estimators.json")


def models_in(defs: dg.Definitions) -> list[ModelSpec]:
    """The model specs of the loaded definitions, by name (each model asset carries its spec)."""
    found: dict[str, ModelSpec] = {}
    for assets_def in defs.assets or []:
        if not isinstance(assets_def, dg.AssetsDefinition):
            continue
        for spec in assets_def.specs:
            if SPEC_METADATA in spec.metadata:
                model = ModelSpec.model_validate(spec.metadata[SPEC_METADATA].value)
                if model.name in found:
                    raise SpecError(f"two model components are named {model.name!r}")
                found[model.name] = model
    return [found[name] for name in sorted(found)]


def load_models_folder(directory: Path, validated=None) -> dg.Definitions:
    """The models of a folder of model folders outside the defs folder (``MLOPS_MODELS_DIR``: tests,
    benchmarks), loaded by the same component as ``load_from_defs_folder`` does."""
    if not directory.is_dir():
        raise SpecError(f"MLOPS_MODELS_DIR={directory}: no such directory")
    components = [
        ModelComponent.from_file(path, validated) for path in sorted(directory.glob(f"*/{SPEC_FILE}"))
    ]
    return dg.Definitions.merge(*[c.build_defs() for c in components])


_COMMON = """\
  features: [carrier, origin, dest, sched_dep_hour, day_of_week, distance, temp, wind_speed, precip, visib]
  training:
    window_days: 60        # labelled days of features/flight_features to train on
    label_delay_days: 1    # day D's labels land with day D+1
    holdout_days: 7        # the last days of the window, for the promotion gate
    min_rows: 2000
  monitoring:
    # Weather and the calendar change from day to day by nature: reported, never a reason to retrain.
    drift_exempt: [day_of_week, temp, wind_speed, precip, visib]
  freshness:
    max_model_age_days: 7  # retrain when the champion is older than this many days of new data
"""
_TEMPLATE = {
    "classification": """\
# A model is this folder: edit the spec, then `dg check defs`. Fields: README, "Adding a model".
type: {type}
attributes:
  name: {name}
  description: >-
    Probability that a flight out of New York arrives 30+ minutes late (edit: what it predicts and why).
  task: classification
  target: arr_delay >= 30
  estimator:
    type: hist_gradient_boosting_classifier
    params: {{max_iter: 100, learning_rate: 0.1, class_weight: balanced, random_state: 13}}
  promotion:
    metric: roc_auc
    margin: 0.01           # a challenger may be this much worse and still replace the champion
"""
    + _COMMON,
    "regression": """\
# A model is this folder: edit the spec, then `dg check defs`. Fields: README, "Adding a model".
type: {type}
attributes:
  name: {name}
  description: >-
    Expected arrival delay in minutes of a flight out of New York (edit: what it predicts and why).
  task: regression
  target: arr_delay
  estimator:
    type: hist_gradient_boosting_regressor
    params: {{max_iter: 100, learning_rate: 0.1, loss: absolute_error, random_state: 13}}
  promotion:
    metric: mae
    margin: 0.5
"""
    + _COMMON,
}
