"""The code location, paused once after a staged write: what `test_worker_killed.py` serves.

The first run to write to a write-audit-publish branch records its pid in the file named by
``MLOPS_TEST_PAUSE_FILE`` and sleeps there (staged, not published) for the test to kill it; every
later run, the retry included, finds the file and carries on.
"""

import os
import time

from mlops_assets.definitions import defs
from mlops_assets.lib.versioned_store import LocalStore

PAUSE_FILE = os.environ["MLOPS_TEST_PAUSE_FILE"]
_write_object = LocalStore.write_object


def _write_then_pause_once(self, branch, path, data):
    written = _write_object(self, branch, path, data)
    if branch.startswith("wap-"):
        try:
            with open(PAUSE_FILE, "x") as paused:
                paused.write(f"{os.getpid()}\n")
        except FileExistsError:
            return written
        time.sleep(600)
    return written


LocalStore.write_object = _write_then_pause_once

__all__ = ["defs"]
