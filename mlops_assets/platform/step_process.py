"""What every step process of the multiprocess executor starts with: a thread budget and a watch on
its run worker, so that a killed worker does not leave its steps running. (The classes of the
instance it opens first are preloaded by ``embedded/step_preload.py``.)

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
CPU limit (the run launcher's ``run_k8s_config``, deploy/dagster.yaml).
"""

from __future__ import annotations

import os
import select
import signal
import threading

from threadpoolctl import threadpool_limits

from mlops_assets.settings import current_settings

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

STEP_THREADS = current_settings().step_threads
for _variable in THREAD_VARIABLES:
    os.environ.setdefault(_variable, str(STEP_THREADS))
threadpool_limits(limits=STEP_THREADS)


# A step must not outlive its run worker. The run monitor fails a run whose worker died, and the
# retry policy runs it again; a step process left running would go on staging and publishing next
# to the retry (safe through WAP, but work no one waits for). Python's fork server does not end its
# children when the worker goes: each step watches the worker (this server's parent) itself.
_SERVER = os.getpid()
_WORKER = os.getppid()
_forked_by = [0]


def _note_forking_process() -> None:
    _forked_by[0] = os.getpid()


def _end_with_the_run_worker() -> None:
    """In a process this server forks (a step), after the fork: end it when the run worker ends."""
    if _forked_by[0] != _SERVER:  # a process a step forks: its step watches for it
        return
    try:
        worker = os.pidfd_open(_WORKER)
    except ProcessLookupError:  # gone already
        os.kill(os.getpid(), signal.SIGKILL)
        return
    except OSError:  # no pidfd (not Linux 5.3+): steps then outlive a killed worker, as Dagster's do
        return

    def watch() -> None:
        exited = select.poll()  # not select(): it refuses descriptors past 1023
        exited.register(worker, select.POLLIN)
        while not exited.poll():  # readable once the worker has exited
            pass
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="mlops-end-with-run-worker", daemon=True).start()


os.register_at_fork(before=_note_forking_process, after_in_child=_end_with_the_run_worker)
