"""Adding a model is one folder: scaffold it with dg in a copy of the project and it reaches the marts.

A copy of the project (the package, dbt_project and pyproject.toml) gets a third model from
``dg scaffold defs mlops_assets.ModelComponent models/very_late`` and nothing else. A separate
process imports the copy (PYTHONPATH) and, on a fresh MLOPS_HOME, lands two weeks, publishes
raw data and features, trains the new model, scores and monitors two days, and runs dbt for
them. The marts then hold the new model's rows, and no file of the copy changed but the new one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml

from tests.conftest import PROJECT_ROOT

NEW = "very_late"
COPIED = ["pyproject.toml", "README.md", "mlops_assets", "dbt_project"]
SKIPPED = shutil.ignore_patterns("__pycache__", "logs", "*.egg-info", ".user.yml")

DRIVER = """
import json
from datetime import date

import dagster as dg

from mlops_assets.definitions import defs
from mlops_assets.lib.landing import land_days
from mlops_assets.settings import current_settings

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
RANGE = lambda first, last: {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
key = lambda text: dg.AssetKey(text.split("/"))
settings = current_settings()
land_days(settings.landing_dir, date(2013, 4, 1), date(2013, 4, 14))
with dg.instance_for_test() as instance:
    def run(job, keys=None, **tags):
        result = defs.resolve_job_def(job).execute_in_process(
            instance=instance, asset_selection=[key(k) for k in keys] if keys else None,
            tags=tags or None, run_config=QUIET, raise_on_error=False,
        )
        failed = [e.message for e in result.all_events if e.is_step_failure]
        assert result.success, (job, keys, failed)
        return result

    run("raw_dimensions")
    run("daily_assets", ["raw/flights", "raw/weather", "features/flight_features"], **RANGE("2013-04-01", "2013-04-14"))
    trained = run("retrain_very_late_now")
    promotion = next(e for e in trained.get_asset_check_evaluations() if e.check_name == "promotion")
    run("daily_assets", ["predictions/very_late", "monitoring/very_late/daily_report"], **RANGE("2013-04-13", "2013-04-14"))
    run("dbt_marts", **RANGE("2013-04-13", "2013-04-14"))
    keys = sorted(k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys())
    print(json.dumps({"keys": keys, "promotion": promotion.metadata["decision"].value}))
"""


def _tree(root: Path) -> dict[str, str]:
    """Every file of the copy that a person edits, by content hash (not caches, state or dbt output)."""
    hashes = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if path.is_file() and not {"__pycache__", "target", "logs", ".mlops"} & set(relative.parts):
            hashes[str(relative)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes


def _copy_project(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    """A copy of the project, the venv's root, and an environment whose mlops_assets is the copy's."""
    project = tmp_path / "project"
    project.mkdir()
    for name in COPIED:
        source = PROJECT_ROOT / name
        if source.is_dir():
            shutil.copytree(source, project / name, ignore=SKIPPED)
        else:
            shutil.copy2(source, project / name)
    venv = Path(sys.executable).parent.parent
    env = {
        **os.environ,
        "PYTHONPATH": str(project),  # the copy's mlops_assets, not the installed checkout's
        "VIRTUAL_ENV": str(venv),
        "MLOPS_HOME": str(tmp_path / "home"),
        "DAGSTER_HOME": str(tmp_path / "home" / "dagster"),
    }
    env.pop("MLOPS_MODELS_DIR", None)
    return project, venv, env


def test_a_bad_model_folder_names_file_line_and_field_in_dg_and_on_load(tmp_path):
    """``dg check yaml`` judges a file's shape (Dagster's schema: every value may be a template, so
    only unknown or misplaced fields); the load and ``dg check defs`` judge the rendered spec."""
    project, venv, env = _copy_project(tmp_path)
    dg = str(venv / "bin" / "dg")
    shipped = yaml.safe_load((project / "mlops_assets/defs/models/late_arrival/defs.yaml").read_text())

    misspelt = yaml.safe_load(yaml.safe_dump(shipped))
    misspelt["attributes"].update(name="misspelt")
    misspelt["attributes"]["training"]["window_dayz"] = misspelt["attributes"]["training"].pop("window_days")
    typo = project / "mlops_assets/defs/models/misspelt/defs.yaml"
    typo.parent.mkdir()
    typo.write_text(yaml.safe_dump(misspelt, sort_keys=False))
    # Dagster names the section's line, and the unknown field in its message
    typo_line = next(i for i, line in enumerate(typo.read_text().splitlines(), 1) if line == "  training:")
    checked = subprocess.run(
        [dg, "check", "yaml", str(typo.parent)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = checked.stdout + checked.stderr
    assert checked.returncode != 0, out
    assert f"{typo}:{typo_line}" in out and "window_dayz" in out, out
    shutil.rmtree(typo.parent)

    shipped["attributes"].update(name="bad_one", features="carrier")  # a string where a list belongs
    shipped["attributes"]["training"]["window_days"] = "sixty"
    bad = project / "mlops_assets/defs/models/bad_one/defs.yaml"
    bad.parent.mkdir()
    bad.write_text(yaml.safe_dump(shipped, sort_keys=False))
    lines = bad.read_text().splitlines()
    features_line = next(i for i, line in enumerate(lines, 1) if line.strip().startswith("features:"))
    window_line = next(i for i, line in enumerate(lines, 1) if line.strip().startswith("window_days:"))
    for command in (
        [sys.executable, "-W", "ignore", "-c", "import mlops_assets.definitions"],
        [dg, "check", "defs"],
    ):
        loaded = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=300)
        out = loaded.stdout + loaded.stderr
        assert loaded.returncode != 0, out
        assert f"{bad}, line {features_line}: field 'features'" in out, out[-3000:]
        assert f"{bad}, line {window_line}: field 'training.window_days'" in out, out[-3000:]


def test_templates_in_a_model_folder_are_rendered_and_then_judged(tmp_path):
    """``{{ env.X }}`` works in any value of a model's defs.yaml, as in any Dagster component file;
    the rendered value meets the spec's bounds, with the file, line and field in the error."""
    project, _, env = _copy_project(tmp_path)
    spec_file = project / "mlops_assets/defs/models/late_arrival/defs.yaml"
    text = spec_file.read_text()
    window = next(line for line in text.splitlines() if line.strip().startswith("window_days:"))
    spec_file.write_text(
        text.replace(window, window.split(":")[0] + ': "{{ env.MLOPS_TEST_WINDOW }}"').replace(
            "  task: classification", '  task: classification\n  owners: ["{{ env.MLOPS_TEST_OWNER }}"]'
        )
    )
    probe = (
        "import mlops_assets.definitions as d; from mlops_assets.components import models_in; "
        "spec = next(s for s in models_in(d.defs) if s.name == 'late_arrival'); "
        "print(spec.training.window_days, spec.owners)"
    )

    def load(**variables: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-W", "ignore", "-c", probe],
            cwd=project,
            env={**env, **variables},
            capture_output=True,
            text=True,
            timeout=300,
        )

    done = load(MLOPS_TEST_WINDOW="45", MLOPS_TEST_OWNER="team:fraud")
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "45 ['team:fraud']"

    done = load(MLOPS_TEST_WINDOW="100000", MLOPS_TEST_OWNER="team:fraud")
    line = next(i for i, row in enumerate(spec_file.read_text().splitlines(), 1) if "window_days:" in row)
    assert done.returncode != 0
    assert f"{spec_file}, line {line}: field 'training.window_days'" in done.stderr, done.stderr[-3000:]
    assert "less than or equal to 3660" in done.stderr, done.stderr[-3000:]


@pytest.mark.slow
def test_a_scaffolded_model_reaches_the_marts_with_no_other_file_touched(tmp_path):
    project, venv, env = _copy_project(tmp_path)
    before = _tree(project)
    scaffold = subprocess.run(
        [str(venv / "bin" / "dg"), "scaffold", "defs", "mlops_assets.ModelComponent", f"models/{NEW}"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert scaffold.returncode == 0, scaffold.stdout + scaffold.stderr
    spec_file = project / "mlops_assets" / "defs" / "models" / NEW / "defs.yaml"
    component = yaml.safe_load(spec_file.read_text())
    assert component["type"] == "mlops_assets.ModelComponent" and component["attributes"]["name"] == NEW

    checked = subprocess.run(
        [str(venv / "bin" / "dg"), "check", "defs"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr

    driven = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", DRIVER],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert driven.returncode == 0, driven.stderr[-6000:]
    report = json.loads(driven.stdout.strip().splitlines()[-1])
    for asset in (
        f"models/{NEW}",
        f"predictions/{NEW}",
        f"monitoring/{NEW}/daily_report",
        f"monitoring/{NEW}/summary",
    ):
        assert asset in report["keys"], asset
    assert report["promotion"] == "promoted: v1 is the first champion"

    warehouse = tmp_path / "home" / "dbt" / "warehouse.duckdb"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        scored = con.execute(
            f"select sum(n_predictions), count(distinct date) from marts.fct_predictions_vs_actuals where spec = '{NEW}'"
        ).fetchone()
        performance = con.execute(
            f"select date, n_predictions, n_labelled from marts.fct_model_daily_performance where spec = '{NEW}' "
            "order by date"
        ).fetchall()
        task = con.execute(
            f"select distinct task, target from marts.dim_model_versions where spec = '{NEW}'"
        ).fetchall()
    assert scored[0] > 1000 and scored[1] == 2, scored
    assert [str(row[0]) for row in performance] == ["2013-04-13", "2013-04-14"]
    assert all(row[2] > 0 for row in performance), "the actual outcome (arr_delay >= 30) reached the mart"
    assert task == [("classification", "arr_delay >= 30")]

    after = _tree(project)
    added = sorted(set(after) - set(before))
    changed = sorted(p for p in before if after.get(p) != before[p])
    assert added == [f"mlops_assets/defs/models/{NEW}/defs.yaml"], added
    assert changed == [], changed
