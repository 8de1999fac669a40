"""One "pod" of the production-state test (tests/test_production_state.py).

A process with its own, emptied MLOPS_HOME that shares only what production shares: Dagster's
Postgres (DAGSTER_HOME holds a dagster.yaml pointing at it), the versioned store (lakeFS), the MLflow
server, the warehouse's Postgres and the landing zone. It runs jobs as a run pod does, one after the
other, and prints one JSON line per run. Usage: ``python -m tests.pod '<plan as JSON>'``, a plan
being a list of ``{"job": ..., "range": [first, last] | null, "assets": ["a/b", ...] | null}``.
"""

from __future__ import annotations

import faulthandler
import json
import signal
import sys

import dagster as dg

from mlops_assets.definitions import build_definitions
from mlops_assets.settings import load_settings

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


def main(plan: list[dict]) -> int:
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # the test asks for our stacks if we hang
    defs = build_definitions(load_settings())
    with dg.DagsterInstance.get() as instance:
        for step in plan:
            first, last = step.get("range") or (None, None)
            tags = (
                {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
                if first
                else {}
            )
            selection = [dg.AssetKey(key.split("/")) for key in step.get("assets") or []] or None
            result = defs.resolve_job_def(step["job"]).execute_in_process(
                instance=instance,
                tags=tags,
                asset_selection=selection,
                run_config=QUIET,
                raise_on_error=False,
            )
            errors = [
                event.event_specific_data.error.message
                for event in result.all_events
                if event.event_type == dg.DagsterEventType.STEP_FAILURE
            ]
            print(
                json.dumps(
                    {"job": step["job"], "run_id": result.run_id, "success": result.success, "errors": errors}
                )
            )
            if not result.success:
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))
