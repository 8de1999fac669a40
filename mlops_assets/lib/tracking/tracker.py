"""One object for everything this platform asks of MLflow.

Runs are logged with governance tags (data commit, partitions, git sha, spec hash,
dependency versions, Dagster run); every trained model is registered and gets the
``challenger`` alias; the promotion gate moves ``champion``.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from mlops_assets.errors import MlopsError, ModelIntegrityError
from mlops_assets.lib.tracking.artifacts import (
    SKOPS_FORMAT,
    TRUSTED_TYPES,
    AuditedModel,
    artifact_sha256,
    load_verified,
    untrusted_types,
)

CHAMPION = "champion"
CHALLENGER = "challenger"
PROFILE_ARTIFACT = "monitoring/reference_profile.json"
KEY_PACKAGES = ("scikit-learn", "polars", "mlflow", "dagster", "pandera", "numpy", "pyarrow")


# What a logged model needs to load and score: MLflow's pyfunc wrapper (and pandas under it),
# scikit-learn (numpy, scipy), skops (the format it is saved in) and polars (our own transformers).
# Given, not inferred: MLflow infers them by starting a Python that loads the model and records
# its imports, 2-3 s for every trained model, and records the process's own extras too (pytest).
MODEL_REQUIREMENTS = ("mlflow", "scikit-learn", "skops", "numpy", "scipy", "pandas", "polars")


def model_requirements() -> list[str]:
    """``MODEL_REQUIREMENTS`` pinned to the versions installed here, which trained the model."""
    return [f"{name}=={importlib_metadata.version(name)}" for name in MODEL_REQUIREMENTS]


def dependency_versions() -> dict[str, str]:
    versions = {}
    for name in KEY_PACKAGES:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def dependency_lock() -> str:
    """Every installed distribution pinned, one per line: the run's exact environment."""
    pins = {(d.metadata["Name"] or "").lower(): d.version for d in importlib_metadata.distributions()}
    return "\n".join(f"{name}=={version}" for name, version in sorted(pins.items()) if name) + "\n"


_READY_SQLITE_STORES: set[str] = set()


def _without_credentials(uri: str) -> tuple[str, tuple[str, str] | None]:
    """``http://user:token@host/path`` -> (``http://host/path``, (user, token))."""
    from urllib.parse import unquote, urlsplit, urlunsplit

    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or "@" not in parts.netloc:
        return uri, None
    host = parts.netloc.rsplit("@", 1)[1]
    bare = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return bare, (unquote(parts.username or ""), unquote(parts.password or ""))


def _quiet_mlflow() -> None:
    """MLflow's INFO lines (database migrations, "Successfully registered model") and download
    progress bars say nothing a person acts on; its warnings and errors still show."""
    import logging

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def _refuse_model_code() -> None:
    """MLflow's own switch (3.18) against loading models that run their code (pickle, cloudpickle,
    skops with the artifact's own trusted types, code paths, PyFunc): off in this process and its
    children. We load models ourselves (``artifacts.load_verified``); nothing should ask MLflow to."""
    os.environ["MLFLOW_ALLOW_MODEL_CODE_EXECUTION"] = "false"


def _create_sqlite_store_once(uri: str) -> None:
    """MLflow creates a sqlite store by migrations on first use; two processes migrating at once fail
    ("duplicate column name"). The first use takes an exclusive lock beside the database file."""
    import fcntl

    from mlflow import MlflowClient

    if uri in _READY_SQLITE_STORES:
        return
    database = Path(uri.removeprefix("sqlite:///"))
    database.parent.mkdir(parents=True, exist_ok=True)
    with open(database.with_name(database.name + ".init-lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            client = MlflowClient(tracking_uri=uri, registry_uri=uri)
            client.search_experiments(max_results=1)  # tracking tables
            client.search_registered_models(max_results=1)  # registry tables
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    _READY_SQLITE_STORES.add(uri)


@dataclass(frozen=True)
class RegisteredModel:
    name: str
    version: str
    run_id: str
    experiment_id: str
    model_id: str  # the MLflow logged model the version was registered from
    artifact_sha256: str  # artifacts.artifact_sha256 of its files, as logged


class Tracker:
    def __init__(
        self,
        tracking_uri: str,
        artifact_root: Path | None = None,
        experiment_prefix: str = "mlops_assets",
        ui_url: str | None = None,
    ):
        # Credentials in the URI (http://user:token@host) go to MLflow through its own variables,
        # never inside the URI: MLflow prints and records the URI ("View run at ...").
        # Surrounding whitespace: a secret mounted from a file ends with a newline.
        self.tracking_uri, self._credentials = _without_credentials(tracking_uri.strip())
        self.artifact_root = artifact_root
        self.experiment_prefix = experiment_prefix
        # Where a person opens MLflow: a UI served over a local store, or the tracking server itself.
        self.ui_url = ui_url or (
            self.tracking_uri if self.tracking_uri.startswith(("http://", "https://")) else None
        )

    def __repr__(self) -> str:
        return f"Tracker(tracking_uri={self._display_uri()!r})"

    def _display_uri(self) -> str:
        return self.tracking_uri  # credentials were taken out on construction

    def client(self):
        import mlflow
        from mlflow import MlflowClient

        _quiet_mlflow()
        _refuse_model_code()
        if self._credentials:
            os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"] = self._credentials
        if self.tracking_uri.startswith("sqlite:///"):
            _create_sqlite_store_once(self.tracking_uri)

        # set_*_uri also export MLFLOW_* variables, which every later subprocess would inherit
        # (and our settings would read); keep the process environment as it was.
        exported = {name: os.environ.get(name) for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)
        for name, value in exported.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    def experiment_id(self, spec_name: str) -> str:
        client = self.client()
        name = f"{self.experiment_prefix}/{spec_name}"
        experiment = client.get_experiment_by_name(name)
        if experiment is not None:
            return experiment.experiment_id
        location = None
        if self.artifact_root is not None:
            self.artifact_root.mkdir(parents=True, exist_ok=True)
            location = (self.artifact_root / spec_name).resolve().as_uri()
        return client.create_experiment(name, artifact_location=location)

    def log_trained_model(
        self,
        spec_name: str,
        pipeline: Any,
        input_example: Any,
        params: dict[str, Any],
        metrics: dict[str, float],
        tags: dict[str, str],
        artifacts: dict[str, str],
    ) -> RegisteredModel:
        """Log a run with the model, register a new version and make it the challenger.

        The model is saved as skops; its artifact's sha256 and logged model id are returned for
        the audited table, which is what any later load is checked against.
        """
        import mlflow
        import skops.io
        from mlflow.models import infer_signature

        unknown = untrusted_types(skops.io.dumps(pipeline))
        if unknown:
            raise MlopsError(
                f"models/{spec_name}: the trained pipeline holds types outside the trusted list of "
                f"lib/tracking/artifacts.py: {unknown}; it could not be loaded safely, so it is not registered"
            )
        client = self.client()
        experiment_id = self.experiment_id(spec_name)
        name = spec_name  # the registered model is named after its spec
        with mlflow.start_run(experiment_id=experiment_id, tags=tags) as run:
            mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
            mlflow.log_metrics({k: v for k, v in metrics.items() if v == v})  # NaN is not loggable
            for file_name, text in artifacts.items():
                mlflow.log_text(text, file_name)
            output_example = (
                pipeline.predict_proba(input_example)[:, 1]
                if hasattr(pipeline, "predict_proba")
                else pipeline.predict(input_example)
            )
            info = mlflow.sklearn.log_model(
                pipeline,
                name="model",
                # skops, never pickle; our loader ignores the types recorded in MLmodel.
                serialization_format=SKOPS_FORMAT,
                skops_trusted_types=list(TRUSTED_TYPES),
                # The example goes into the signature only: logged as an input example, MLflow
                # would load the model through its own loader to validate it, which we switch off.
                signature=infer_signature(input_example, output_example),
                pip_requirements=model_requirements(),
                registered_model_name=name,
            )
        version = str(info.registered_model_version)
        sha256 = self._with_artifact(info.model_id, artifact_sha256)
        for key, value in {**tags, "mlops.artifact_sha256": sha256}.items():
            client.set_model_version_tag(name, version, key, value)
        client.set_registered_model_alias(name, CHALLENGER, version)
        return RegisteredModel(
            name=name,
            version=version,
            run_id=run.info.run_id,
            experiment_id=experiment_id,
            model_id=info.model_id,
            artifact_sha256=sha256,
        )

    def _with_artifact(self, model_id: str, use: Callable[[Path], Any]) -> Any:
        """``use`` applied to a fresh download of a logged model's files (removed afterwards)."""
        import tempfile

        import mlflow

        self.client()
        with tempfile.TemporaryDirectory(prefix="mlops-model-") as scratch:
            return use(Path(mlflow.artifacts.download_artifacts(f"models:/{model_id}", dst_path=scratch)))

    def version_with_alias(self, spec_name: str, alias: str):
        from mlflow.exceptions import MlflowException

        try:
            return self.client().get_model_version_by_alias(spec_name, alias)
        except MlflowException:
            return None

    def load_model(self, audited: AuditedModel):
        """The audited version's model, from the logged model its row recorded, loaded only if the
        registry still names that logged model and its files are the ones hashed at training."""
        from mlflow.exceptions import MlflowException

        try:
            registered = self.client().get_model_version(audited.spec_name, audited.version)
        except MlflowException:
            raise ModelIntegrityError(
                audited.spec_name,
                audited.version,
                [f"the registry in {self._display_uri()} has no such version"],
            ) from None
        # The sqlite registry leaves ``model_id`` empty; its ``source`` is ``models:/<model id>``.
        named = registered.model_id or str(registered.source).removeprefix("models:/")
        if named != audited.model_id:
            raise ModelIntegrityError(
                audited.spec_name,
                audited.version,
                [
                    f"the registry names logged model {named}, the audited models/"
                    f"{audited.spec_name} table recorded {audited.model_id}"
                ],
            )
        return self._with_artifact(audited.model_id, lambda directory: load_verified(directory, audited))

    def load_json_artifact(self, spec_name: str, version: str, artifact: str) -> dict[str, Any]:
        """A JSON artifact saved in this version's MLflow run at training time."""
        import mlflow
        from mlflow.exceptions import MlflowException

        client = self.client()
        try:
            run_id = client.get_model_version(spec_name, version).run_id
            return json.loads(mlflow.artifacts.load_text(f"runs:/{run_id}/{artifact}"))
        except (MlflowException, OSError) as exc:
            raise MlopsError(
                f"model {spec_name!r} v{version}: no {artifact} in its MLflow run; "
                f"retrain models/{spec_name} to create one ({type(exc).__name__})"
            ) from None

    def load_reference_profile(self, spec_name: str, version: str) -> dict[str, Any]:
        """The monitoring reference saved with this version at training time."""
        return self.load_json_artifact(spec_name, version, PROFILE_ARTIFACT)

    def promote(self, spec_name: str, version: str) -> None:
        self.client().set_registered_model_alias(spec_name, CHAMPION, version)

    def tag_version(self, spec_name: str, version: str, tags: dict[str, str]) -> None:
        client = self.client()
        for key, value in tags.items():
            client.set_model_version_tag(spec_name, version, key, value)

    def lineage(self, spec_name: str, version: str) -> dict[str, Any]:
        """Everything an auditor asks about one model version."""
        from mlflow.exceptions import MlflowException

        client = self.client()
        name = spec_name
        try:
            model_version = client.get_model_version(name, version)
        except MlflowException:
            raise MlopsError(
                f"no version {version!r} of registered model {name!r} in {self._display_uri()}"
            ) from None
        run = client.get_run(model_version.run_id)
        aliases = list(getattr(model_version, "aliases", []) or [])
        return {
            "model": name,
            "version": version,
            "aliases": aliases,
            "run_id": model_version.run_id,
            "tags": dict(model_version.tags),
            "metrics": dict(run.data.metrics),
            "params": dict(run.data.params),
        }

    def run_url(self, experiment_id: str, run_id: str) -> str | None:
        if not self.ui_url:
            return None
        return f"{self.ui_url.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"

    def model_version_url(self, spec_name: str, version: str) -> str | None:
        if not self.ui_url:
            return None
        return f"{self.ui_url.rstrip('/')}/#/models/{spec_name}/versions/{version}"


def environment_tags() -> dict[str, str]:
    return {
        "python_version": platform.python_version(),
        "dependencies": json.dumps(dependency_versions(), sort_keys=True),
    }
