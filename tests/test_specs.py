"""Model specs: the shipped ones load; each kind of bad spec is one clear error naming file and field."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mlops_assets.lib.model_spec import SpecError, load_spec, load_specs
from mlops_assets.settings import PACKAGE_DIR
from tests.conftest import PROJECT_ROOT

SHIPPED = PACKAGE_DIR / "model_specs"


def _shipped(name: str) -> dict:
    return yaml.safe_load((SHIPPED / f"{name}.yaml").read_text())


def test_shipped_specs_load():
    specs = load_specs(SHIPPED)
    assert set(specs) == {"late_arrival", "arrival_delay"}
    late, _ = specs["late_arrival"]
    assert late.task == "classification" and late.target == "arr_delay >= 15"
    assert specs["arrival_delay"][0].task == "regression"


def _write(tmp_path: Path, raw: dict | str, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(raw if isinstance(raw, str) else yaml.safe_dump(raw))
    return path


def _edit(change) -> dict:
    raw = _shipped("late_arrival")
    change(raw)
    return raw


BAD_SPECS = {
    "unknown feature": (_edit(lambda r: r["features"].append("gate_number")), "features", "unknown feature(s) ['gate_number']"),
    "leaking feature": (_edit(lambda r: r["features"].append("dep_delay")), "features", "target leakage"),
    "unknown estimator": (_edit(lambda r: r["estimator"].update(type="xgboost")), "estimator.type", "unknown estimator 'xgboost'"),
    "bad parameter type": (_edit(lambda r: r["estimator"]["params"].update(max_iter="many")), "estimator.params.max_iter", "max_iter"),
    "unknown parameter": (_edit(lambda r: r["estimator"]["params"].update(n_trees=5)), "estimator.params", "n_trees"),
    "negative window": (_edit(lambda r: r["training"].update(window_days=-5)), "training.window_days", "greater than 0"),
    "holdout longer than window": (_edit(lambda r: r["training"].update(holdout_days=90)), "training", "holdout_days (90)"),
    "metric of the other task": (_edit(lambda r: r["promotion"].update(metric="mae")), "(top level)", "promotion.metric 'mae'"),
    "unknown field": (_edit(lambda r: r.update(schedule="daily")), "schedule", "Extra inputs are not permitted"),
    "target not a label": (_edit(lambda r: r.update(target="distance > 100")), "target", "must be a label column"),
}


@pytest.mark.parametrize("case", sorted(BAD_SPECS))
def test_bad_spec_names_file_and_field(tmp_path, case):
    raw, field, detail = BAD_SPECS[case]
    path = _write(tmp_path, raw)
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    message = str(caught.value)
    assert str(path) in message
    assert f"field '{field}'" in message
    assert detail in message


def test_invalid_yaml_names_the_line(tmp_path):
    path = _write(tmp_path, "name: late_arrival\nfeatures: [carrier, origin\ntask: classification\n")
    with pytest.raises(SpecError, match=r"invalid YAML at line \d+, column \d+") as caught:
        load_spec(path)
    assert str(path) in str(caught.value)


def test_duplicate_names_name_both_files(tmp_path):
    _write(tmp_path, _shipped("late_arrival"), "a.yaml")
    _write(tmp_path, _shipped("late_arrival"), "b.yaml")
    with pytest.raises(SpecError) as caught:
        load_specs(tmp_path)
    assert "b.yaml: field 'name': 'late_arrival' is already used by" in str(caught.value)
    assert "a.yaml" in str(caught.value)


def test_code_version_follows_meaning_not_formatting(tmp_path):
    original = load_spec(SHIPPED / "late_arrival.yaml")
    reformatted = _write(tmp_path, "# a comment\n" + yaml.safe_dump(_shipped("late_arrival"), sort_keys=True))
    assert load_spec(reformatted).code_version() == original.code_version()
    edited = _write(tmp_path, _edit(lambda r: r["estimator"]["params"].update(learning_rate=0.2)), "edited.yaml")
    assert load_spec(edited).code_version() != original.code_version()


def test_code_location_refuses_a_bad_spec_with_the_file_in_the_error(tmp_path):
    """Decision: a bad spec stops the load (shown in the UI as a location error), never a silent skip."""
    specs = tmp_path / "specs"
    specs.mkdir()
    bad = _write(specs, BAD_SPECS["unknown estimator"][0], "late_arrival.yaml")
    env = {**os.environ, "MLOPS_HOME": str(tmp_path / "mlops"), "MLOPS_MODEL_SPECS_DIR": str(specs)}
    done = subprocess.run(
        [sys.executable, "-c", "import mlops_assets.definitions"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode != 0
    assert f"{bad}: field 'estimator.type'" in done.stderr
