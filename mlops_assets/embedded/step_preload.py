"""What a step imports to open the embedded instance, imported once by the step server.

A step opens the instance first: its storages' classes, sqlalchemy and Dagster's sql storages,
about 0.5 s in every step otherwise, five of them one after another in a run of raw data and
features. The local multiprocess executor lists this module among the modules its fork server
preloads (``platform/executor.py``). Only imports: connections are opened by each step, after
the fork.
"""

from __future__ import annotations

import importlib
import os

from dagster._core.instance.ref import InstanceRef

importlib.import_module("dagster._core.storage.base_storage")


def import_instance_classes() -> None:
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        return
    try:
        ref = InstanceRef.from_dir(home)
    except Exception:  # noqa: BLE001 - a speed-up only: the step reports the instance's own error
        return
    for name in ref._fields:
        data = getattr(ref, name)
        if name.endswith("_data") and getattr(data, "module_name", None):
            try:
                importlib.import_module(data.module_name)
            except ImportError:  # the step reports it, where it belongs
                pass


import_instance_classes()
