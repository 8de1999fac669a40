"""Model specs: one folder per model, ``defs/models/<name>/defs.yaml``, validated with clear errors.

The file is a Dagster component instance (``type: mlops_assets.ModelComponent`` and the spec
under ``attributes``); ``ModelSpec`` is the component's schema. A bad spec names its file, the
line and the offending field. The code location refuses to load with a bad spec (a model that
silently disappears from the graph would be worse).
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import json
import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    ValidationError,
    field_validator,
    model_validator,
)

from mlops_assets.errors import MlopsError
from mlops_assets.lib.features import FEATURES, LABEL_COLUMNS, POST_DEPARTURE_COLUMNS

# Bump when training code changes in a way that should retrain every model.
TRAINING_CODE_VERSION = "2"  # 2: a performance estimator is fitted with every version
MODEL_COMPONENT_TYPE = "mlops_assets.ModelComponent"
SPEC_FILE = "defs.yaml"

Task = Literal["classification", "regression"]
ESTIMATORS: dict[str, tuple[Task, str]] = {
    "hist_gradient_boosting_classifier": (
        "classification",
        "sklearn.ensemble.HistGradientBoostingClassifier",
    ),
    "logistic_regression": ("classification", "sklearn.linear_model.LogisticRegression"),
    "random_forest_classifier": ("classification", "sklearn.ensemble.RandomForestClassifier"),
    "hist_gradient_boosting_regressor": ("regression", "sklearn.ensemble.HistGradientBoostingRegressor"),
    "ridge": ("regression", "sklearn.linear_model.Ridge"),
    "random_forest_regressor": ("regression", "sklearn.ensemble.RandomForestRegressor"),
}
# metric -> (task, higher is better)
METRICS: dict[str, tuple[Task, bool]] = {
    "roc_auc": ("classification", True),
    "pr_auc": ("classification", True),
    "f2": ("classification", True),
    "brier": ("classification", False),
    "mae": ("regression", False),
    "rmse": ("regression", False),
}
_TARGET = re.compile(r"^\s*(?P<column>[a-z_]+)\s*(?:(?P<op>>=|<=|>|<|==)\s*(?P<value>-?\d+(?:\.\d+)?))?\s*$")


# Upper bounds of a spec's numbers (README, "Spec limits"). Past them a spec is a mistake, and some
# values overflow date arithmetic in the retrain sensor (timedelta(days=10**11)). Floats must be finite.
MAX_DAYS = 3660  # ten years: window_days, label_delay_days, holdout_days, max_model_age_days
MAX_ROWS = 1_000_000_000  # training.min_rows
MAX_METRIC_DELTA = 1000.0  # promotion.margin and monitoring.performance_drop, in the metric's units
MAX_PSI = 100.0  # monitoring.psi_threshold
MAX_TARGET_THRESHOLD = 100_000  # |value| in a target like 'arr_delay >= 15' (minutes)
MAX_PARAM_MAGNITUDE = 1e9  # |number| anywhere in estimator.params

# libyaml's safe loader when PyYAML was built with it (about 10x faster: load time per spec counts).
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class SpecError(MlopsError):
    """A model spec file is invalid."""


class _Strict(BaseModel):
    # allow_inf_nan=False: '.inf' or '.nan' for a float field is "Input should be a finite number".
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class EstimatorSpec(_Strict):
    type: str
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("type")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in ESTIMATORS:
            raise ValueError(f"unknown estimator {value!r}; expected one of {sorted(ESTIMATORS)}")
        return value

    @field_validator("params")
    @classmethod
    def _bounded_numbers(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name, number in _numbers(value):
            if not abs(number) <= MAX_PARAM_MAGNITUDE:  # NaN fails this comparison too
                raise ValueError(
                    f"params.{name} is {number}: expected a finite number of magnitude at most "
                    f"{MAX_PARAM_MAGNITUDE:g}"
                )
        return value


def _numbers(value: Any, name: str = "") -> list[tuple[str, int | float]]:
    """Every number in a parameter value (nested lists and mappings too), with its dotted name."""
    if isinstance(value, bool):
        return []
    if isinstance(value, int | float):
        return [(name, value)]
    if isinstance(value, dict):
        return [
            n for key, item in value.items() for n in _numbers(item, f"{name}.{key}" if name else str(key))
        ]
    if isinstance(value, list | tuple):
        return [n for i, item in enumerate(value) for n in _numbers(item, f"{name}[{i}]")]
    return []


class TrainingSpec(_Strict):
    window_days: PositiveInt = Field(le=MAX_DAYS)
    label_delay_days: int = Field(default=1, ge=0, le=MAX_DAYS)
    holdout_days: PositiveInt = Field(le=MAX_DAYS)
    min_rows: PositiveInt = Field(default=1000, le=MAX_ROWS)

    @model_validator(mode="after")
    def _holdout_inside_window(self) -> TrainingSpec:
        if self.holdout_days >= self.window_days:
            raise ValueError(
                f"holdout_days ({self.holdout_days}) must be less than window_days ({self.window_days})"
            )
        return self


class PromotionSpec(_Strict):
    metric: str
    margin: float = Field(default=0.0, ge=0, le=MAX_METRIC_DELTA)


class MonitoringSpec(_Strict):
    psi_threshold: float = Field(default=0.2, gt=0, le=MAX_PSI)
    ks_threshold: float = Field(default=0.1, gt=0, le=1)
    max_missing_share: float = Field(default=0.2, ge=0, le=1)
    performance_drop: float = Field(default=0.05, ge=0, le=MAX_METRIC_DELTA)
    # A day's row count under this share of the training days' average, or a cancelled share over
    # this ceiling, is a warning in the day's report (the landing warns too: check raw/flights:volume).
    min_volume_share: float = Field(default=0.5, gt=0, le=1)
    max_cancelled_share: float = Field(default=0.5, gt=0, le=1)
    # Features whose distribution moves day to day by nature (weather, calendar): reported, never alerting.
    drift_exempt: list[str] = Field(default_factory=list)
    # Performance estimated before the labels land (lib/estimation) past the allowed drop is an early
    # warning in the summary; with this switch on it is a decay verdict, so it retrains the model.
    retrain_on_estimated_decay: bool = False
    # The estimator is calibrated on out-of-fold scores of the training window: the spec's model is
    # refitted this many times, each without one block of days, at training time (each refit costs
    # about a training). 0: the holdout only, cheaper and far worse (benchmarks/README.md).
    estimation_folds: int = Field(default=2, ge=0, le=10)


class FreshnessSpec(_Strict):
    max_model_age_days: PositiveInt = Field(default=7, le=MAX_DAYS)


class ServingSpec(_Strict):
    # A new model scores the days after its training window; its own training days are not new
    # traffic (their scores would flatter monitoring) unless a spec asks for them.
    score_training_window: bool = False


class ModelSpec(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]{1,62}$")
    description: str = Field(min_length=10)
    task: Task
    target: str
    features: list[str] = Field(min_length=1)
    estimator: EstimatorSpec
    training: TrainingSpec
    promotion: PromotionSpec
    monitoring: MonitoringSpec = MonitoringSpec()
    freshness: FreshnessSpec = FreshnessSpec()
    serving: ServingSpec = ServingSpec()
    owners: list[str] = Field(default_factory=lambda: ["team:ml-platform"])

    @field_validator("target")
    @classmethod
    def _target(cls, value: str) -> str:
        match = _TARGET.match(value)
        if not match or match["column"] not in LABEL_COLUMNS:
            raise ValueError(
                f"target {value!r} must be a label column ({sorted(LABEL_COLUMNS)}), optionally compared "
                "with a number, e.g. 'arr_delay >= 15'"
            )
        if match["value"] is not None and not abs(float(match["value"])) <= MAX_TARGET_THRESHOLD:
            raise ValueError(
                f"target {value!r} compares with {match['value']}: expected a number of magnitude at most "
                f"{MAX_TARGET_THRESHOLD}"
            )
        return value.strip()

    @field_validator("features")
    @classmethod
    def _features(cls, value: list[str]) -> list[str]:
        leaking = [f for f in value if f in LABEL_COLUMNS or f in POST_DEPARTURE_COLUMNS]
        if leaking:
            raise ValueError(
                f"{leaking} are known only after departure (target leakage); not allowed as features"
            )
        unknown = [f for f in value if f not in FEATURES]
        if unknown:
            raise ValueError(f"unknown feature(s) {unknown}; expected names from {sorted(FEATURES)}")
        if len(set(value)) != len(value):
            raise ValueError("features are listed more than once")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ModelSpec:
        estimator_task = ESTIMATORS[self.estimator.type][0]
        if estimator_task != self.task:
            raise ValueError(
                f"estimator.type {self.estimator.type!r} is a {estimator_task} estimator, task is {self.task}"
            )
        if self.promotion.metric not in METRICS or METRICS[self.promotion.metric][0] != self.task:
            valid = sorted(m for m, (t, _) in METRICS.items() if t == self.task)
            raise ValueError(
                f"promotion.metric {self.promotion.metric!r} is not a {self.task} metric; expected one of {valid}"
            )
        if self.monitoring.estimation_folds == 1:
            raise ValueError(
                "monitoring.estimation_folds is 1: use 0 (fit on the holdout only) or 2 to 10 out-of-fold refits"
            )
        stray = [f for f in self.monitoring.drift_exempt if f not in self.features]
        if stray:
            raise ValueError(f"monitoring.drift_exempt lists {stray}, which are not features of this spec")
        is_threshold = _TARGET.match(self.target)["op"] is not None
        if (self.task == "classification") != is_threshold:
            raise ValueError(
                f"target {self.target!r} does not fit task {self.task}: classification needs a comparison "
                "('arr_delay >= 15'), regression a plain column ('arr_delay')"
            )
        return self

    @property
    def higher_is_better(self) -> bool:
        return METRICS[self.promotion.metric][1]

    def content_hash(self) -> str:
        """Hash of the spec's meaning (not its formatting): editing a value changes it.

        Defaults are left out, so a new optional field with a default does not retrain every model.
        """
        meaning = self.model_dump(mode="json", exclude_defaults=True)
        return hashlib.sha256(json.dumps(meaning, sort_keys=True).encode()).hexdigest()

    def code_version(self) -> str:
        """The model asset's code_version: spec plus training code, so either change stales it."""
        return hashlib.sha256(f"{self.content_hash()}:{TRAINING_CODE_VERSION}".encode()).hexdigest()[:16]


def estimator_class(estimator_type: str) -> type:
    module, _, name = ESTIMATORS[estimator_type][1].rpartition(".")
    return getattr(importlib.import_module(module), name)


def _field_path(location: tuple) -> str:
    return ".".join(str(part) for part in location) or "(top level)"


def _line_of(text: str, location: tuple) -> int | None:
    """The line of ``attributes.<location>`` in the YAML text (the deepest key that exists)."""
    try:
        node = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return None
    line = None
    for part in ("attributes", *location):
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if k.value == str(part)), None)
            if match is None:
                break
            line, node = match[0].start_mark.line + 1, match[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _where(path: Path, text: str, location: tuple) -> str:
    line = _line_of(text, location)
    return f"{path}{f', line {line}' if line else ''}: field '{_field_path(location)}'"


def spec_error(path: Path, text: str, exc: ValidationError) -> SpecError:
    """One error naming the file, and the line and field of every problem pydantic found."""
    return SpecError("; ".join(f"{_where(path, text, tuple(e['loc']))}: {e['msg']}" for e in exc.errors()))


@functools.cache
def _scikit_learn_version() -> str:
    """Asked once a process (reading the installed distributions takes about 0.4 ms a spec)."""
    from importlib.metadata import version

    return version("scikit-learn")


def read_spec_file(path: Path) -> tuple[dict[str, Any], str]:
    """The ``attributes`` mapping of a model's ``defs.yaml`` and the file's text."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise SpecError(f"{path}: cannot read the model spec ({exc.strerror})") from None
    try:
        raw = yaml.load(text, Loader=_SAFE_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SpecError(f"{path}: invalid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("attributes"), dict):
        raise SpecError(
            f"{path}: expected a component file: 'type: {MODEL_COMPONENT_TYPE}' and the spec's fields under "
            "'attributes:'"
        )
    if raw.get("type") != MODEL_COMPONENT_TYPE:
        raise SpecError(f"{path}: field 'type': expected {MODEL_COMPONENT_TYPE!r}, got {raw.get('type')!r}")
    return raw["attributes"], text


def load_spec(path: Path, validated: EstimatorValidationCache | None = None) -> ModelSpec:
    """The spec in a model folder's ``defs.yaml`` (``path`` is the file or its folder)."""
    path = path / SPEC_FILE if path.is_dir() else path
    attributes, text = read_spec_file(path)
    return judge_spec(attributes, path, text, validated)


def judge_spec(
    attributes: dict[str, Any], path: Path, text: str, validated: EstimatorValidationCache | None = None
) -> ModelSpec:
    """The spec that a model file's ``attributes`` make, judged whole: one error naming ``path``,
    and the line (in ``text``) and field of each problem."""
    try:
        spec = ModelSpec.model_validate(attributes)
    except ValidationError as exc:
        raise spec_error(path, text, exc) from None
    check_spec(spec, path, text, validated)
    return spec


def check_spec(
    spec: ModelSpec, path: Path, text: str, validated: EstimatorValidationCache | None = None
) -> None:
    """What pydantic cannot judge: the folder names the model, and scikit-learn accepts the parameters."""
    if path.parent.name != spec.name:
        raise SpecError(
            f"{_where(path, text, ('name',))}: {spec.name!r} must equal the name of its folder "
            f"({path.parent.name!r}): one folder per model"
        )
    if validated is None or not validated.holds(spec.estimator):
        _validate_estimator_params(path, text, spec)
        if validated is not None:
            validated.add(spec.estimator)


def _validate_estimator_params(path: Path, text: str, spec: ModelSpec) -> None:
    """Let scikit-learn itself judge names and types of the parameters, at load time."""
    from sklearn.utils._param_validation import InvalidParameterError

    cls = estimator_class(spec.estimator.type)
    unknown = sorted(set(spec.estimator.params) - set(cls().get_params()))
    if unknown:
        where = _where(path, text, ("estimator", "params"))
        raise SpecError(f"{where}: unknown parameter(s) {unknown} for {cls.__name__}")
    try:
        cls(**spec.estimator.params)._validate_params()
    except InvalidParameterError as exc:
        name = next((p for p in spec.estimator.params if f"'{p}'" in str(exc)), "")
        raise SpecError(f"{_where(path, text, ('estimator', 'params', name))}: {exc}") from None


class EstimatorValidationCache:
    """Estimator configurations scikit-learn has already accepted, remembered in one JSON file.

    Asking scikit-learn costs its import (about 0.9 s), once per process that loads the code
    location: every run step, sensor tick and pod. A configuration it accepted once (same
    estimator, parameters and scikit-learn version) is not asked again.
    """

    def __init__(self, path: Path):
        self.path = path
        try:
            self._known = set(json.loads(path.read_text()))
        except (OSError, ValueError):
            self._known = set()
        self._dirty = False

    @staticmethod
    def _key(estimator: EstimatorSpec) -> str:
        payload = json.dumps(
            [estimator.type, estimator.params, _scikit_learn_version()], sort_keys=True, default=str
        )
        return hashlib.sha256(payload.encode()).hexdigest()

    def holds(self, estimator: EstimatorSpec) -> bool:
        return self._key(estimator) in self._known

    def add(self, estimator: EstimatorSpec) -> None:
        self._known.add(self._key(estimator))
        self._dirty = True

    def save(self) -> None:
        """Write the file if its directory exists (``prepare-instance`` makes it): loading the code
        location never creates state (a pod's image, a read-only checkout)."""
        if not self._dirty or not self.path.parent.is_dir():
            return
        try:
            scratch = self.path.with_name(f".{self.path.name}.{os.getpid()}")
            scratch.write_text(json.dumps(sorted(self._known)))
            os.replace(scratch, self.path)
            self._dirty = False  # written: the next save, after each model's load, has nothing to add
        except OSError:
            pass  # a read-only disk only costs the next process the same validation


def load_specs(directory: Path, cache_file: Path | None = None) -> dict[str, tuple[ModelSpec, Path]]:
    """Every model folder's spec in ``directory`` (``<name>/defs.yaml``), by name."""
    if not directory.is_dir():
        raise SpecError(f"model directory {directory} does not exist")
    validated = EstimatorValidationCache(cache_file) if cache_file else None
    specs = {}
    for path in sorted(directory.glob(f"*/{SPEC_FILE}")):
        spec = load_spec(path, validated)
        specs[spec.name] = (spec, path)
    if validated is not None:
        validated.save()
    return specs
