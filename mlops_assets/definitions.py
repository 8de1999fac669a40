"""The code location: one Definitions, merged from each concern under defs/."""

import dagster as dg

from mlops_assets.defs import data, features, jobs, models, resources
from mlops_assets.settings import current_settings


def build_definitions(settings=None) -> dg.Definitions:
    settings = settings or current_settings()
    return dg.Definitions.merge(
        data.build_defs(),
        features.build_defs(),
        models.build_defs(settings),
        jobs.build_defs(),
        resources.build_defs(settings),
    )


defs = build_definitions()
