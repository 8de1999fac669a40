"""The one piece of production code on Dagster internals: several asset materializations logged
from an asset check as one batch of the event log.

A contract check records main's data version for every partition it audited (a year's range is
365 events an asset). Dagster's public ``log_event`` writes them one at a time; Dagster writes an
output's partition range as one batch (``DAGSTER_EVENT_BATCH_SIZE``, set by the embedded instance
and by production's image), and this does what ``log_event`` does with Dagster's batch marker on
each. One at a time cost 0.9 s more on a run of three assets over 90 days (about 20% of the run in
process; ``benchmarks/README.md``, issue 32, which has the upstream issue text asking for a public
batch). Production's Postgres event log batches too, so this is not local-only and stays here;
``tests/test_embedded_internals.py`` checks the names and signatures it uses.
"""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg
from dagster._core.events import DagsterEvent, DagsterEventBatchMetadata, generate_event_batch_id


def log_as_one_batch(
    context: dg.OpExecutionContext, materializations: Sequence[dg.AssetMaterialization]
) -> None:
    """``context.log_event`` for each materialization, with one batch marker over them all."""
    batch_id = generate_event_batch_id()
    last = len(materializations) - 1
    for i, materialization in enumerate(materializations):
        context._events.append(  # noqa: SLF001 - what log_event does, with a batch marker
            DagsterEvent.asset_materialization(
                context._step_execution_context,  # noqa: SLF001
                materialization,
                DagsterEventBatchMetadata(batch_id, i == last),
            )
        )
