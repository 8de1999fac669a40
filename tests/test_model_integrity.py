"""Verified model artifacts (issue 31): a model loads only as the audited ``models/<spec>`` row says.

One version of late_arrival is trained and audited; each test then tampers with what an attacker
who can write MLflow's artifact store or registry could change, and scores a day as
``dagster asset materialize --select predictions/late_arrival`` would: the command planted in
the artifact never runs, and one error names the spec, the version and what did not match.
"""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import dagster as dg
import pandas as pd
import pytest
import skops.io
import yaml
from mlflow import MlflowClient
from sklearn.base import BaseEstimator
from sklearn.dummy import DummyClassifier

from mlops_assets.errors import MlopsError, ModelIntegrityError
from mlops_assets.lib.lifecycle import decide_promotion, published_versions
from mlops_assets.lib.model_spec import load_spec
from mlops_assets.lib.tracking import Tracker
from mlops_assets.lib.tracking.artifacts import AuditedModel, artifact_sha256, audited_model
from mlops_assets.lib.versioned_store import LocalStore
from mlops_assets.settings import MODELS_DIR, load_settings
from tests.conftest import QUIET, build_world, failure_text, materialize

LATE = dg.AssetKey(["models", "late_arrival"])
PREDICTIONS = dg.AssetKey(["predictions", "late_arrival"])
DAY = "2013-03-16"
SPEC = load_spec(MODELS_DIR / "late_arrival")


class RunsCommand:
    """Pickled, it runs a shell command when unpickled: the finding's payload."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class TouchesOnLoad:
    """Loaded by skops (if trusted), it creates a file: a type our trusted list does not hold."""

    def __init__(self, marker: str):
        self.marker = marker

    def __getstate__(self):
        return {"marker": self.marker}

    def __setstate__(self, state):
        Path(state["marker"]).touch()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Sixteen days published and late_arrival v1 trained, audited and promoted."""
    settings = load_settings({"MLOPS_HOME": str(tmp_path_factory.mktemp("integrity") / "mlops")})
    with dg.instance_for_test() as instance:
        defs = build_world(settings, instance, "2013-03-01", "2013-03-16")
        trained = materialize(defs, instance, [LATE])
        assert trained.success, failure_text(trained)
        yield settings, defs, instance


def registry(settings) -> MlflowClient:
    return MlflowClient(
        tracking_uri=settings.mlflow_tracking_uri.get_secret_value(),
        registry_uri=settings.mlflow_tracking_uri.get_secret_value(),
    )


def audited(settings) -> AuditedModel:
    return audited_model(
        "late_arrival", published_versions(LocalStore(settings.local_store_dir), "late_arrival"), 1
    )


@pytest.fixture
def artifact(world):
    """The files of v1's logged model, restored byte for byte after the test tampers with them."""
    settings, *_ = world
    location = registry(settings).get_logged_model(audited(settings).model_id).artifact_location
    directory = Path(unquote(urlparse(location).path))
    saved = directory.with_name(directory.name + ".saved")
    shutil.copytree(directory, saved)
    yield directory
    shutil.rmtree(directory)
    saved.rename(directory)


def score(world) -> dg.ExecuteInProcessResult:
    _, defs, instance = world
    return defs.resolve_implicit_job_def_def_for_assets([PREDICTIONS]).execute_in_process(
        instance=instance,
        asset_selection=[PREDICTIONS],
        partition_key=DAY,
        run_config=QUIET,
        raise_on_error=False,
    )


def _set_flavor(directory: Path, **flavor) -> None:
    mlmodel = yaml.safe_load((directory / "MLmodel").read_text())
    mlmodel["flavors"]["sklearn"].update(flavor)
    (directory / "MLmodel").write_text(yaml.safe_dump(mlmodel))


def test_the_audited_version_scores_and_its_row_holds_its_hash(world, artifact):
    settings, *_ = world
    assert audited(settings).sha256 == artifact_sha256(artifact)
    assert registry(settings).get_model_version("late_arrival", "1").tags["mlops.artifact_sha256"] == (
        audited(settings).sha256
    )
    assert score(world).success


def test_a_cloudpickle_artifact_is_refused_and_its_command_never_runs(world, artifact, tmp_path):
    marker = tmp_path / "command-ran"
    (artifact / "model.pkl").write_bytes(pickle.dumps(RunsCommand(f"touch {marker}")))
    _set_flavor(artifact, serialization_format="cloudpickle", pickled_model="model.pkl")
    result = score(world)
    assert not marker.exists(), "the pickle in the artifact ran its command"
    assert not result.success
    message = failure_text(result)
    assert "models/late_arrival v1: refused to load the model" in message
    assert (
        "its MLmodel names the serialization format 'cloudpickle (model.pkl)'; only 'skops' loads" in message
    )
    assert "sha256" in message and "changed after registration" in message


def test_a_skops_file_with_an_untrusted_type_is_refused_even_with_the_audited_hash(world, artifact, tmp_path):
    """Defence in depth: were such bytes ever audited, the types are ours to trust, not the artifact's."""
    settings, *_ = world
    marker = tmp_path / "type-loaded"
    skops.io.dump([TouchesOnLoad(str(marker))], artifact / "model.skops")
    untrusted = f"{TouchesOnLoad.__module__}.{TouchesOnLoad.__qualname__}"
    # The artifact vouches for its own type, as MLflow lets it.
    _set_flavor(artifact, skops_trusted_types=[untrusted, "builtins.list"])
    hashed = AuditedModel("late_arrival", "1", audited(settings).model_id, artifact_sha256(artifact))
    with pytest.raises(ModelIntegrityError) as raised:
        Tracker(settings.mlflow_tracking_uri.get_secret_value()).load_model(hashed)
    assert not marker.exists(), "skops loaded a type the artifact trusted itself"
    assert raised.value.spec_name == "late_arrival" and raised.value.version == "1"
    assert untrusted in str(raised.value) and "outside our trusted list" in str(raised.value)


def test_bytes_replaced_after_registration_are_refused(world, artifact):
    settings, *_ = world
    # A plain scikit-learn model (trusted types only) that would score every flight alike.
    stand_in = DummyClassifier(strategy="prior").fit(pd.DataFrame({"distance": [1.0, 2.0]}), [0, 1])
    skops.io.dump(stand_in, artifact / "model.skops")
    result = score(world)
    assert not result.success
    message = failure_text(result)
    assert (
        f"models/late_arrival v1: refused to load the model: the artifact's sha256 is {artifact_sha256(artifact)}"
        in (message)
    )
    assert f"recorded {audited(settings).sha256}" in message


def test_an_alias_moved_by_hand_to_an_unaudited_version_is_refused(world):
    settings, *_ = world
    client = registry(settings)
    original = client.get_model_version("late_arrival", "1")
    # Registered outside training (the same logged model, even): no row of the audited table.
    by_hand = client.create_model_version("late_arrival", original.source, run_id=original.run_id)
    client.set_registered_model_alias("late_arrival", "champion", by_hand.version)
    try:
        result = score(world)
        assert not result.success
        assert (
            f"models/late_arrival v{by_hand.version}: refused to load the model: alias 'champion' points at "
            f"v{by_hand.version}, which the audited models/late_arrival table on main does not hold (it holds: v1)"
        ) in failure_text(result)
        # The promotion gate refuses it too, before any alias moves.
        versions = published_versions(LocalStore(settings.local_store_dir), "late_arrival")
        with pytest.raises(ModelIntegrityError, match=f"alias 'champion' points at v{by_hand.version}"):
            decide_promotion(
                SPEC, Tracker(settings.mlflow_tracking_uri.get_secret_value()), versions, holdout=None
            )
        assert str(client.get_model_version_by_alias("late_arrival", "champion").version) == str(
            by_hand.version
        )
    finally:
        client.set_registered_model_alias("late_arrival", "champion", "1")
        client.delete_model_version("late_arrival", by_hand.version)


class Unvetted(BaseEstimator):
    """A scikit-learn estimator of a type our trusted list does not hold."""

    def fit(self, features, target):
        return self

    def predict(self, features):
        return [0.0] * len(features)


def test_training_refuses_a_pipeline_whose_types_scoring_would_not_trust(tmp_path):
    """Before, the types a pipeline held were trusted because the pipeline held them."""
    tracker = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}", artifact_root=tmp_path / "artifacts")
    with pytest.raises(MlopsError, match=r"outside the trusted list .*Unvetted.*not registered"):
        tracker.log_trained_model(
            "late_arrival",
            Unvetted().fit(None, None),
            input_example=pd.DataFrame({"distance": [1.0]}),
            params={},
            metrics={},
            tags={},
            artifacts={},
        )
    assert tracker.client().search_registered_models() == []
