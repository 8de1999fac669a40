"""``ModelComponent``: one model is one folder, ``defs/models/<name>/defs.yaml``.

The file's ``attributes`` are the fields of a ``ModelSpec``, resolved by Dagster (a ``Resolvable``
component: ``dg check yaml`` checks their shape, templates render in any value); ``build_defs``
judges the spec and returns everything that belongs to that one model: ``models/<name>``
with its checks, ``predictions/<name>``, ``monitoring/<name>/daily_report`` and ``summary``
with their contract checks, and its launchpad job ``retrain_<name>_now``. Cross-model pieces
(the retrain and serving sensors, the dbt gates, the jobs over every model) find the models in
the loaded definitions (``models_in``).

Add a model: ``dg scaffold defs mlops_assets.ModelComponent models/<name>``, edit the spec,
``dg check defs``.
"""

from dataclasses import dataclass, fields
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

import dagster as dg
from pydantic import BaseModel, Field, create_model

from mlops_assets.lib.model_spec import (
    SPEC_FILE,
    EstimatorSpec,
    EstimatorValidationCache,
    FreshnessSpec,
    ModelSpec,
    MonitoringSpec,
    PromotionSpec,
    ServingSpec,
    SpecError,
    Task,
    TrainingSpec,
    judge_spec,
    load_spec,
    read_spec_file,
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


def _templatable(section: type[BaseModel]) -> type[BaseModel]:
    """The shape of a spec section for Dagster's schema: its fields, each also a template string.

    Dagster validates a component file against this shape before it renders ``{{ env.X }}`` and
    the like, so the section's bounds (``window_days <= 3660``) cannot be in it: a bound on an
    ``int | str`` field refuses the template itself. They are judged after rendering, by the spec
    (``ModelComponent.build_defs``), with the same file, line and field in the error.
    """
    fields: dict[str, Any] = {
        name: (info.annotation | str, Field(default=None, description=info.description))
        for name, info in section.model_fields.items()
    }
    return create_model(f"{section.__name__}Attributes", __base__=dg.Model, **fields)


_TEMPLATE_MARKS = ("{{", "{%", "{#")


def _rendered(context: dg.ResolutionContext, value: Any) -> Any:
    """A field's value as its file gives it (a section's fields left out stay out: the spec's
    defaults fill them), each string that holds a template rendered by Dagster's ``resolve_value``.

    Other strings are kept as they are: Dagster's default resolution compiles every string as a
    Jinja template (about 0.4 ms each, 30 in a spec, 1.2 s of a load of 100 models), and its
    native rendering turns a plain ``"45"`` into a number.
    """
    if isinstance(value, BaseModel):
        value = value.model_dump(exclude_unset=True)
    if isinstance(value, dict):
        return {key: _rendered(context.at_path(key), item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_rendered(context.at_path(i), item) for i, item in enumerate(value)]
    if isinstance(value, str) and any(mark in value for mark in _TEMPLATE_MARKS):
        return context.resolve_value(value)
    return value


Templated = dg.Resolver(_rendered, inject_before_resolve=False)


def _section(spec_section: type[BaseModel]) -> Any:
    return Annotated[
        dict,
        dg.Resolver(_rendered, model_field_type=_templatable(spec_section), inject_before_resolve=False),
    ]


# Dagster reads the fields' annotations as objects: this module has no ``from __future__ import annotations``.
EstimatorAttributes = _section(EstimatorSpec)
TrainingAttributes = _section(TrainingSpec)
PromotionAttributes = _section(PromotionSpec)
MonitoringAttributes = _section(MonitoringSpec)
FreshnessAttributes = _section(FreshnessSpec)
ServingAttributes = _section(ServingSpec)


@dg.scaffold_with(ModelScaffolder)
@dataclass(frozen=True)
class ModelComponent(dg.Component, dg.Resolvable):
    """A model: its spec (task, target, features, estimator, training window, promotion, monitoring,
    freshness, serving) and everything Dagster needs to train, serve and monitor it.

    The fields are the spec's (``ModelSpec``), resolved by Dagster from ``defs.yaml``: templates such
    as ``{{ env.X }}`` work in every value. ``build_defs`` judges the rendered spec and names file,
    line and field for what it refuses.
    """

    name: Annotated[str, Templated]
    description: Annotated[str, Templated]
    task: Annotated[Task, Templated]
    target: Annotated[str, Templated]
    features: Annotated[list[str], Templated]
    estimator: EstimatorAttributes
    training: TrainingAttributes
    promotion: PromotionAttributes
    monitoring: MonitoringAttributes | None = None
    freshness: FreshnessAttributes | None = None
    serving: ServingAttributes | None = None
    owners: Annotated[list[str] | None, Templated] = None

    def spec_at(self, spec_file: Path, validated: EstimatorValidationCache | None = None) -> ModelSpec:
        """The spec these fields make, judged as a whole (bounds, cross-field rules, the folder's
        name, scikit-learn's parameters); errors name ``spec_file``'s line and field."""
        given = {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}
        try:
            text = spec_file.read_text()
        except OSError as exc:
            raise SpecError(f"{spec_file}: cannot read the model spec ({exc.strerror})") from None
        return judge_spec(given, spec_file, text, validated)

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        return self.defs_at(context.path / SPEC_FILE)

    def defs_at(self, spec_file: Path, cache_dir: Path | None = None) -> dg.Definitions:
        """The model's definitions; scikit-learn's verdicts on estimators are remembered in
        ``cache_dir`` (default: the current settings' cache)."""
        from mlops_assets.platform.models import build_model_defs

        validated = _validation_cache(cache_dir)
        spec = self.spec_at(spec_file, validated)
        validated.save()
        return build_model_defs(spec, spec_file)

    @classmethod
    def from_file(cls, spec_file: Path) -> "ModelComponent":
        """The component of a ``defs.yaml`` outside the defs folder (``MLOPS_MODELS_DIR``: tests,
        benchmarks), resolved by Dagster as the defs folder's are (from the parsed file: Dagster's
        parse with source positions costs 9 ms a file, and ``load_spec_error`` names lines)."""
        attributes, _ = read_spec_file(spec_file)
        try:
            return cls.resolve_from_model(
                dg.ResolutionContext.default(), cls.model().model_validate(attributes)
            )
        except Exception as exc:  # Dagster's shape errors: the spec's own clear error for them
            raise load_spec_error(spec_file, exc) from None


def load_spec_error(spec_file: Path, exc: BaseException) -> BaseException:
    """What the spec says of a file whose fields Dagster refused: the same file judged by
    ``load_spec``, which names its line and field (or Dagster's error, if the spec accepts it)."""
    try:
        load_spec(spec_file)
    except SpecError as clear:
        return clear
    return exc


@cache
def _validation_cache(cache_dir: Path | None = None) -> EstimatorValidationCache:
    if cache_dir is None:
        from mlops_assets.instance import estimator_cache_dir
        from mlops_assets.settings import current_settings

        cache_dir = estimator_cache_dir(current_settings())
    return EstimatorValidationCache(cache_dir / "validated_estimators.json")


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


def load_models_folder(directory: Path, cache_dir: Path) -> dg.Definitions:
    """The models of a folder of model folders outside the defs folder (``MLOPS_MODELS_DIR``: tests,
    benchmarks), loaded by the same component as the defs folder's; ``cache_dir``: the loaded
    settings' estimator cache."""
    if not directory.is_dir():
        raise SpecError(f"MLOPS_MODELS_DIR={directory}: no such directory")
    return dg.Definitions.merge(
        *[
            ModelComponent.from_file(path).defs_at(path, cache_dir)
            for path in sorted(directory.glob(f"*/{SPEC_FILE}"))
        ]
    )


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
