"""MLflow as a Pythonic Dagster resource (tracking + registry).

dagster-mlflow's resource is the legacy function style; this one is a
``ConfigurableResource`` with explicit URIs. ``mlflow`` is imported lazily: it takes
seconds and must stay out of code-location load.
"""

from pathlib import Path

import dagster as dg
from pydantic import Field

from mlops_assets.lib.tracking import Tracker


class MlflowResource(dg.ConfigurableResource):
    """Tracking store and registry: sqlite under MLOPS_HOME locally, an MLflow server in prod."""

    tracking_uri: str = Field(description="MLFLOW_TRACKING_URI")
    artifact_root: str = Field(default="", description="artifact directory for new experiments (local store)")
    experiment_prefix: str = "mlops_assets"
    ui_url: str = Field(default="", description="MLOPS_MLFLOW_UI_URL: the MLflow UI links point to")
    git_sha: str = Field(
        default="", description="MLOPS_GIT_SHA: code version recorded on every model (else git)"
    )

    def tracker(self) -> Tracker:
        return Tracker(
            tracking_uri=self.tracking_uri,
            artifact_root=Path(self.artifact_root) if self.artifact_root else None,
            experiment_prefix=self.experiment_prefix,
            ui_url=self.ui_url or None,
        )

    def code_version(self) -> str:
        """The platform's git commit recorded with each trained version."""
        from mlops_assets.lib.governance import git_sha
        from mlops_assets.settings import project_root

        return git_sha(project_root(), self.git_sha or None)
