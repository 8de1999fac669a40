"""The embedded (local, sqlite) Dagster instance's machinery: the only code that touches Dagster's
internals (``dagster._...``).

Local only: the ``dagster.yaml`` that ``prepare-instance`` writes (``mlops_assets/instance.py``)
names these classes, and the local multiprocess executor preloads ``step_preload`` in its steps.
Production (Postgres, ``K8sRunLauncher``, ``k8s_job_executor``; ``deploy/``) never imports this
package, and nothing in ``defs/``, ``platform/``, ``lib/`` or ``definitions.py`` may import it
(``tests/test_embedded_internals.py`` checks both, and that each internal used here is still there,
naming the Dagster version when one changed).

- ``event_log_storage``: Dagster's sqlite event log with connections kept open and batches in one
  transaction (about 5x faster a write, which is what a year of partitions costs).
- ``run_launcher``: Dagster's local launcher plus a health check of the run worker for the run
  monitor.
- ``step_preload``: the instance's storage classes, imported once by the step server rather than
  in every step.
"""
