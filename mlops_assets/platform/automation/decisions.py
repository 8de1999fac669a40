"""The retraining decision, as a plain function of what is published (tested day by day)."""

from dataclasses import dataclass, field
from datetime import date

from mlops_assets.errors import ObjectNotFound
from mlops_assets.lib.model_spec import ModelSpec
from mlops_assets.lib.training import TrainingError, select_window
from mlops_assets.lib.versioned_store import MAIN, VersionedStore
from mlops_assets.lib.versioned_store.wap import published_partitions, read_table, table_path
from mlops_assets.platform.features import FEATURES_KEY
from mlops_assets.platform.monitoring import summary_key

HANDLED_MEMORY = 50


@dataclass(frozen=True)
class RetrainDecision:
    reason: str | None  # initial | drift | decay | freshness; None: do not retrain
    evidence: str = ""
    evidence_key: str = ""
    why_not: str = ""
    state: dict = field(default_factory=dict)


def _row(store: VersionedStore, path_parts: list[str]) -> dict | None:
    try:
        return read_table(store, MAIN, table_path(path_parts, None)).row(
            -1, named=True
        )  # tables append: the newest row is last
    except ObjectNotFound:
        return None


def decide_retraining(
    spec: ModelSpec, store: VersionedStore, state: dict, *, in_progress: bool
) -> RetrainDecision:
    """Whether ``models/<spec>`` should retrain now, why, and the sensor state to keep."""
    if in_progress:
        return RetrainDecision(None, why_not="a run of it is in progress", state=state)
    days = published_partitions(store, MAIN, FEATURES_KEY.path)
    if not days:
        return RetrainDecision(None, why_not="no feature data is published", state=state)
    latest = days[-1]
    summary = _row(store, list(summary_key(spec).path))
    # A day's summary is published minutes after its features: a tick in between must not make the
    # sensor blind to that day's verdict, so a summary that judges a new day is new evidence too.
    monitored = summary["window_end"].isoformat() if summary is not None else None
    if state.get("data_day") == latest and state.get("monitored_day") == monitored:
        return RetrainDecision(None, why_not=f"no new data or monitoring since {latest}", state=state)
    handled = list(state.get("handled", []))
    new_state = {"data_day": latest, "monitored_day": monitored, "handled": handled}

    reference = _row(store, ["models", spec.name])
    reason = evidence = key = None
    if reference is None:
        try:
            select_window(spec, days)
        except TrainingError as exc:
            return RetrainDecision(None, why_not=f"not trainable yet: {exc}", state=new_state)
        reason, key = "initial", "initial"
        evidence = f"no trained version yet; {len(days)} day(s) of features published up to {latest}"
    else:
        trained_until = reference["holdout_end"]
        unseen = summary is not None and summary["window_start"].isoformat() > trained_until
        last_labelled = date.fromisoformat(latest).toordinal() - spec.training.label_delay_days
        age_days = last_labelled - date.fromisoformat(trained_until).toordinal()
        if unseen and summary["verdict"] in ("drift", "decay"):
            reason = summary["verdict"]
            evidence = summary["reason"]
            key = f"{reason}-v{reference['model_version']}"  # one retrain per version for this reason
        elif age_days > spec.freshness.max_model_age_days:
            reason = "freshness"
            evidence = (
                f"v{reference['model_version']} was trained on data up to {trained_until}; {age_days} newer labelled "
                f"day(s) are published (freshness.max_model_age_days={spec.freshness.max_model_age_days})"
            )
            key = f"freshness-v{reference['model_version']}"
    if reason is None:
        return RetrainDecision(None, why_not="monitoring ok and model fresh", state=new_state)
    if key in handled:
        return RetrainDecision(None, why_not=f"already requested for {key}", state=new_state)
    new_state["handled"] = [*handled, key][-HANDLED_MEMORY:]
    return RetrainDecision(reason, evidence=evidence, evidence_key=key, state=new_state)
