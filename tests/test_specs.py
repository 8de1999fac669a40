"""Model specs: the shipped ones load; each kind of bad spec is one clear error naming file, line and field."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mlops_assets.lib.model_spec import SpecError, load_spec, load_specs
from mlops_assets.settings import MODELS_DIR
from tests.conftest import PROJECT_ROOT

SHIPPED = MODELS_DIR


def _shipped(name: str) -> dict:
    return yaml.safe_load((SHIPPED / name / "defs.yaml").read_text())["attributes"]


def test_shipped_specs_load():
    specs = load_specs(SHIPPED)
    assert set(specs) == {"late_arrival", "arrival_delay"}
    late, _ = specs["late_arrival"]
    assert late.task == "classification" and late.target == "arr_delay >= 15"
    assert specs["arrival_delay"][0].task == "regression"


def _write(tmp_path: Path, raw: dict | str, name: str = "late_arrival") -> Path:
    """A model folder ``name`` whose defs.yaml holds ``raw`` (the spec's fields, or the file's text)."""
    path = tmp_path / name / "defs.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = (
        raw
        if isinstance(raw, str)
        else yaml.safe_dump({"type": "mlops_assets.ModelComponent", "attributes": raw})
    )
    path.write_text(text)
    return path


def _edit(change) -> dict:
    raw = _shipped("late_arrival")
    change(raw)
    return raw


BAD_SPECS = {
    "unknown feature": (
        _edit(lambda r: r["features"].append("gate_number")),
        "features",
        "unknown feature(s) ['gate_number']",
    ),
    "leaking feature": (_edit(lambda r: r["features"].append("dep_delay")), "features", "target leakage"),
    "unknown estimator": (
        _edit(lambda r: r["estimator"].update(type="xgboost")),
        "estimator.type",
        "unknown estimator 'xgboost'",
    ),
    "bad parameter type": (
        _edit(lambda r: r["estimator"]["params"].update(max_iter="many")),
        "estimator.params.max_iter",
        "max_iter",
    ),
    "unknown parameter": (
        _edit(lambda r: r["estimator"]["params"].update(n_trees=5)),
        "estimator.params",
        "n_trees",
    ),
    "negative window": (
        _edit(lambda r: r["training"].update(window_days=-5)),
        "training.window_days",
        "greater than 0",
    ),
    "holdout longer than window": (
        _edit(lambda r: r["training"].update(holdout_days=90)),
        "training",
        "holdout_days (90)",
    ),
    "metric of the other task": (
        _edit(lambda r: r["promotion"].update(metric="mae")),
        "(top level)",
        "promotion.metric 'mae'",
    ),
    "unknown field": (
        _edit(lambda r: r.update(schedule="daily")),
        "schedule",
        "Extra inputs are not permitted",
    ),
    "target not a label": (
        _edit(lambda r: r.update(target="distance > 100")),
        "target",
        "must be a label column",
    ),
    "a string for a list": (_edit(lambda r: r.update(features="carrier")), "features", "valid list"),
    # Issue 31: numbers past a limit (or not finite) loaded, then overflowed in the retrain sensor.
    "window beyond ten years": (
        _edit(lambda r: r["training"].update(window_days=100_000_000_000)),
        "training.window_days",
        "less than or equal to 3660",
    ),
    "label delay beyond ten years": (
        _edit(lambda r: r["training"].update(label_delay_days=10**12)),
        "training.label_delay_days",
        "less than or equal to 3660",
    ),
    "min_rows past a billion": (
        _edit(lambda r: r["training"].update(min_rows=10**10)),
        "training.min_rows",
        "less than or equal to 1000000000",
    ),
    "infinite margin": (
        _edit(lambda r: r["promotion"].update(margin=float("inf"))),
        "promotion.margin",
        "finite number",
    ),
    "margin past the limit": (
        _edit(lambda r: r["promotion"].update(margin=5000)),
        "promotion.margin",
        "less than or equal to 1000",
    ),
    "NaN drift threshold": (
        _edit(lambda r: r.setdefault("monitoring", {}).update(psi_threshold=float("nan"))),
        "monitoring.psi_threshold",
        "finite number",
    ),
    "infinite performance drop": (
        _edit(lambda r: r.setdefault("monitoring", {}).update(performance_drop=float("-inf"))),
        "monitoring.performance_drop",
        "finite number",
    ),
    "freshness beyond ten years": (
        _edit(lambda r: r.setdefault("freshness", {}).update(max_model_age_days=10**11)),
        "freshness.max_model_age_days",
        "less than or equal to 3660",
    ),
    "estimator parameter past the limit": (
        _edit(lambda r: r["estimator"]["params"].update(max_iter=10**11)),
        "estimator.params",
        "params.max_iter is 100000000000: expected a finite number of magnitude at most 1e+09",
    ),
    "infinite estimator parameter": (
        _edit(lambda r: r["estimator"]["params"].update(learning_rate=float("inf"))),
        "estimator.params",
        "params.learning_rate is inf",
    ),
    "target threshold past the limit": (
        _edit(lambda r: r.update(target="arr_delay >= 1" + "0" * 400)),
        "target",
        "expected a number of magnitude at most 100000",
    ),
    "name is not its folder": (
        _edit(lambda r: r.update(name="late_arrival_v2")),
        "name",
        "must equal the name of its folder",
    ),
}


def _through_the_component(path: Path):
    """What the code location does with a model folder: Dagster resolves the component, which
    judges the rendered spec."""
    from mlops_assets.components import ModelComponent

    return ModelComponent.from_file(path).spec_at(path)


@pytest.mark.parametrize("load", [load_spec, _through_the_component], ids=["load_spec", "component"])
@pytest.mark.parametrize("case", sorted(BAD_SPECS))
def test_bad_spec_names_file_and_field(tmp_path, case, load):
    raw, field, detail = BAD_SPECS[case]
    path = _write(tmp_path, raw)
    with pytest.raises(SpecError) as caught:
        load(path)
    message = str(caught.value)
    assert f"{path}, line " in message, message
    assert f"field '{field}'" in message
    assert detail in message
    line = int(message.split(f"{path}, line ")[1].split(":")[0])
    key = field.split(".")[-1] if field != "(top level)" else "attributes"
    assert f"{key}:" in path.read_text().splitlines()[line - 1], f"line {line} is not the line of {field}"


def test_invalid_yaml_names_the_line(tmp_path):
    path = _write(tmp_path, "name: late_arrival\nfeatures: [carrier, origin\ntask: classification\n")
    with pytest.raises(SpecError, match=r"invalid YAML at line \d+, column \d+") as caught:
        load_spec(path)
    assert str(path) in str(caught.value)


def test_a_file_that_is_not_a_model_component_is_named(tmp_path):
    path = _write(
        tmp_path,
        yaml.safe_dump({"type": "dagster.DefsFolderComponent", "attributes": _shipped("late_arrival")}),
    )
    with pytest.raises(SpecError, match="field 'type': expected 'mlops_assets.ModelComponent'") as caught:
        load_spec(path)
    assert str(path) in str(caught.value)
    flat = _write(tmp_path, yaml.safe_dump(_shipped("late_arrival")), "flat")
    with pytest.raises(SpecError, match="expected a component file"):
        load_spec(flat)


def test_code_version_follows_meaning_not_formatting(tmp_path):
    original = load_spec(SHIPPED / "late_arrival")
    component = {"type": "mlops_assets.ModelComponent", "attributes": _shipped("late_arrival")}
    reformatted = _write(tmp_path / "a", "# a comment\n" + yaml.safe_dump(component, sort_keys=True))
    assert load_spec(reformatted).code_version() == original.code_version()
    edited = _write(tmp_path / "b", _edit(lambda r: r["estimator"]["params"].update(learning_rate=0.2)))
    assert load_spec(edited).code_version() != original.code_version()


def test_code_location_refuses_a_bad_spec_with_the_file_in_the_error(tmp_path):
    """Decision: a bad spec stops the load (shown in the UI as a location error), never a silent skip."""
    specs = tmp_path / "models"
    bad = _write(specs, BAD_SPECS["unknown estimator"][0])
    env = {**os.environ, "MLOPS_HOME": str(tmp_path / "mlops"), "MLOPS_MODELS_DIR": str(specs)}
    done = subprocess.run(
        [sys.executable, "-c", "import mlops_assets.definitions"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert f"{bad}, line " in done.stderr and "field 'estimator.type'" in done.stderr
