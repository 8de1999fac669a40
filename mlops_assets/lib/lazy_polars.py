"""polars, imported on first use, and table columns declared by the names of their types.

Loading the code location builds the asset graph: keys, partitions, descriptions, column schemas.
It computes nothing, and needs no polars, which took 0.17 s of it (a tenth of the load with 2
models; benchmarks/README.md, section 1). The webserver, the daemon, the code server and every run
worker load the code location. So the modules it imports take ``pl`` from here: polars is
imported the first time one of its names is read (``pl.col``, ``pl.DataFrame``), in the step that
computes something, and from then on ``pl`` reads polars' own namespace. Their tables' schemas are
``Columns``: type names that become polars types when a step first reads them, and show in the
asset graph as they are.
"""

from __future__ import annotations

import importlib
import types
from collections.abc import Iterator, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any

# polars' own names ("String", "Int32", "Float64", "Boolean", "Date") name themselves; this one has
# its unit and zone.
UTC_DATETIME = "Datetime[us, UTC]"


class _ImportedOnFirstUse(types.ModuleType):
    def __getattr__(self, name: str) -> Any:  # only for names not read yet
        module = importlib.import_module(self.__name__)
        self.__dict__.update(vars(module))
        return getattr(module, name)


if TYPE_CHECKING:
    import polars as pl
else:
    pl = _ImportedOnFirstUse("polars")


def polars_type(name: str) -> pl.DataType:
    """The polars type a name declares: polars' own name of the type, or ``UTC_DATETIME``."""
    if name == UTC_DATETIME:
        return pl.Datetime("us", "UTC")
    dtype = getattr(pl, name, None)
    if not (isinstance(dtype, type) and issubclass(dtype, pl.DataType)):
        raise ValueError(f"{name!r} is not the name of a polars type")
    return dtype()


class Columns(Mapping[str, "pl.DataType"]):
    """A table's columns in order, each name to its polars type, declared by the type's name
    (``type_names``: what the asset graph shows)."""

    def __init__(self, type_names: Mapping[str, str]):
        self.type_names = dict(type_names)

    @cached_property
    def _types(self) -> dict[str, pl.DataType]:
        return {name: polars_type(type_name) for name, type_name in self.type_names.items()}

    def __getitem__(self, name: str) -> pl.DataType:
        return self._types[name]

    def __contains__(self, name: object) -> bool:  # a name, without making the types
        return name in self.type_names

    def __iter__(self) -> Iterator[str]:
        return iter(self.type_names)

    def __len__(self) -> int:
        return len(self.type_names)

    def __repr__(self) -> str:
        return f"Columns({self.type_names!r})"
