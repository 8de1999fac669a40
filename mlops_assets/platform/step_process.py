"""What every step process of the multiprocess executor starts with: a thread budget.

The executor runs steps side by side, as many as the machine has cores, each in a process forked
from one server that imports this module once per run (``platform/executor.py``). scikit-learn's OpenMP
and numpy's BLAS start a thread per core in every one of those processes, and OpenMP's threads
spin while they wait: on 2 cores, the two models' year of predictions took 60 s a step side by
side against 8 s with one thread each (benchmarks/README.md). So each step process gets
``MLOPS_STEP_THREADS`` threads (default 1): through the variables the OpenMP and BLAS runtimes read
when they load (scikit-learn loads OpenMP in the step), and through ``threadpoolctl`` for the ones
already loaded here (numpy's BLAS). A variable the user set is kept.

In process (``MLOPS_EXECUTOR=in_process``) one step runs at a time, and this module is not
imported: the libraries use every core. On Kubernetes each step pod's ``OMP_NUM_THREADS`` is its
CPU limit (``run_pod_resources.yaml``).
"""

from __future__ import annotations

import os

from threadpoolctl import threadpool_limits

from mlops_assets.settings import current_settings

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

STEP_THREADS = current_settings().step_threads
for _variable in THREAD_VARIABLES:
    os.environ.setdefault(_variable, str(STEP_THREADS))
threadpool_limits(limits=STEP_THREADS)
