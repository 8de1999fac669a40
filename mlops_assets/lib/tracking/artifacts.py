"""Verified model artifacts: a model version loads only as what the audited table recorded.

MLflow takes a model's serialization format (and skops' trusted types) from the artifact's own
``MLmodel``, so whoever can write the artifact store, or move an alias, chooses what code runs
when a model loads. Here nothing loaded is trusted for its own say-so: the version must be a row
of the audited ``models/<spec>`` table on main, the registry must name the logged model that row
recorded, the artifact's files must hash to the row's sha256, the format must be skops, and skops
loads with the types fixed below, never a list read from the artifact. Nothing is ever unpickled.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_assets.errors import ModelIntegrityError
from mlops_assets.lib.lazy_polars import pl

# The columns of the audited table that tie a version to its bytes.
SHA256_COLUMN = "artifact_sha256"
MODEL_ID_COLUMN = "mlflow_model_id"
SKOPS_FILE = "model.skops"  # where MLflow's sklearn flavor saves a skops model
SKOPS_FORMAT = "skops"
# What our pipelines hold beyond skops' own defaults (scikit-learn estimators, numpy arrays):
# fixed here, in our code, for the estimators a spec may name (model_spec.ESTIMATORS).
TRUSTED_TYPES = (
    "numpy.dtype",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.tree._tree.Tree",
)


@dataclass(frozen=True)
class AuditedModel:
    """What the audited ``models/<spec>`` table recorded for one version at training."""

    spec_name: str
    version: str
    model_id: str  # the MLflow logged model the version was registered from
    sha256: str  # ``artifact_sha256`` of its files


def audited_model(
    spec_name: str, versions: pl.DataFrame, version: Any, alias: str | None = None
) -> AuditedModel:
    """The audited row of ``version``; a version the table does not hold (an alias moved by hand,
    a version registered outside training) or one trained before hashes were recorded is refused."""
    version = str(version)
    rows = versions.filter(pl.col("model_version") == int(version))
    held = ", ".join(f"v{v}" for v in sorted(versions["model_version"].to_list())) or "none"
    pointer = f"alias {alias!r} points at v{version}, which" if alias else f"v{version}"
    if rows.is_empty():
        raise ModelIntegrityError(
            spec_name,
            version,
            [f"{pointer} the audited models/{spec_name} table on main does not hold (it holds: {held})"],
        )
    row = rows.row(0, named=True)
    if not row.get(SHA256_COLUMN) or not row.get(MODEL_ID_COLUMN):
        raise ModelIntegrityError(
            spec_name,
            version,
            [
                f"the audited table recorded no {SHA256_COLUMN}/{MODEL_ID_COLUMN} for it; retrain models/{spec_name}"
            ],
        )
    return AuditedModel(spec_name, version, row[MODEL_ID_COLUMN], row[SHA256_COLUMN])


def artifact_sha256(directory: Path) -> str:
    """One digest of every file of a model artifact: sha256 of its ``sha256sum``-style listing
    (``<file sha256>  <relative path>``, sorted by path), so a changed, added or removed file shows."""
    listing = "".join(
        f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.relative_to(directory).as_posix()}\n"
        for path in sorted(p for p in directory.rglob("*") if p.is_file())
    )
    return hashlib.sha256(listing.encode()).hexdigest()


def _serialization_format(directory: Path) -> str:
    """The format the artifact's ``MLmodel`` claims: read (safely) only to refuse anything but skops."""
    import yaml

    try:
        flavor = yaml.safe_load((directory / "MLmodel").read_text())["flavors"]["sklearn"]
        claimed = str(flavor.get("serialization_format"))
        return (
            claimed
            if flavor.get("pickled_model") == SKOPS_FILE
            else f"{claimed} ({flavor.get('pickled_model')})"
        )
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        return "unknown (no readable sklearn flavor in MLmodel)"


def untrusted_types(data: bytes) -> list[str]:
    """The types in skops bytes that neither skops' defaults nor ``TRUSTED_TYPES`` vouch for."""
    import skops.io

    return sorted(set(skops.io.get_untrusted_types(data=data)) - set(TRUSTED_TYPES))


def load_verified(directory: Path, audited: AuditedModel) -> Any:
    """The model in a downloaded artifact ``directory``, loaded only if it is the audited one.

    Every check reads bytes and parses nothing executable; every mismatch goes in one error.
    """
    import skops.io

    mismatches = []
    claimed = _serialization_format(directory)
    if claimed != SKOPS_FORMAT:
        mismatches.append(
            f"its MLmodel names the serialization format {claimed!r}; only {SKOPS_FORMAT!r} loads"
        )
    digest = artifact_sha256(directory)
    if digest != audited.sha256:
        mismatches.append(
            f"the artifact's sha256 is {digest}, the audited models/{audited.spec_name} table recorded "
            f"{audited.sha256} (its files changed after registration)"
        )
    model_file = directory / SKOPS_FILE
    if not mismatches:
        data = model_file.read_bytes()
        unknown = untrusted_types(data)
        if unknown:
            mismatches.append(f"{SKOPS_FILE} holds types outside our trusted list: {unknown}")
    if mismatches:
        raise ModelIntegrityError(audited.spec_name, audited.version, mismatches)
    return skops.io.loads(data, trusted=list(TRUSTED_TYPES))
