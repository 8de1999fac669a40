"""The code location: the models of the defs folder, and the platform built around them.

Dagster's component tree loads ``defs/`` (one ``ModelComponent`` per ``defs/models/<name>/``);
the cross-model pieces (raw data, features, dbt, jobs over every model, sensors, resources)
find the models in what it loaded (``models_in``), never in a list kept by hand.
"""

import re
import warnings
from pathlib import Path

import dagster as dg

from mlops_assets.components import load_models_folder, models_in
from mlops_assets.instance import estimator_cache_dir
from mlops_assets.lib.model_spec import SpecError
from mlops_assets.platform import automation, data, dbt, features, jobs, resources
from mlops_assets.platform.automation.freshness import DAILY_DATA
from mlops_assets.platform.monitoring import daily_reports, overview
from mlops_assets.platform.partitions import DAILY
from mlops_assets.settings import Settings, current_settings, project_root

# How Dagster names a field of a component file that failed validation.
_LOCATED = re.compile(r"^attributes\.?(?P<field>\S*) at (?P<file>.+):(?P<line>\d+)$")


def load_models(settings: Settings) -> dg.Definitions:
    """The project's defs folder, or the folder of model folders in ``MLOPS_MODELS_DIR`` (tests, benchmarks).

    The defs folder is built at its path rather than through ``load_from_defs_folder``, which builds
    the tree's root: that also imports every package in the environment that registers components
    (``dagster_dg_cli.registry_modules``: dagster-aws, there for the S3 compute logs, is boto3 and
    1.1 s) and writes their JSON schemas into the location's metadata (0.5 s), for the UI's
    catalogue of component types, on every load of the code server, run and step. ``dg list
    components`` still lists them: it reads the environment itself.
    """
    if settings.models_dir is not None:
        return load_models_folder(settings.models_dir, estimator_cache_dir(settings))
    try:
        with warnings.catch_warnings():  # as load_from_defs_folder: its own beta and preview parts
            warnings.simplefilter("ignore", dg.BetaWarning)
            warnings.simplefilter("ignore", dg.PreviewWarning)
            tree = dg.ComponentTree.for_project(project_root())
            return dg.Definitions.merge(tree.build_defs(Path(".")), dg.Definitions(component_tree=tree))
    except Exception as exc:  # Dagster wraps a bad defs.yaml in its own tree error: say it our way
        clear = spec_error_in(exc)
        if clear is None:
            raise
        raise clear from None


def spec_error_in(exc: BaseException) -> SpecError | None:
    """The project's one clear error (file, line, field) for a model folder that failed to load."""
    from pydantic import ValidationError

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, SpecError):
            return seen
        if isinstance(seen, ValidationError):
            problems = []
            for error in seen.errors():
                where = _LOCATED.match(str(error["loc"][0])) if error["loc"] else None
                if where is None:
                    return None
                field = where["field"] or "(top level)"
                problems.append(f"{where['file']}, line {where['line']}: field '{field}': {error['msg']}")
            return SpecError("; ".join(problems))
        seen = seen.__cause__ or seen.__context__
    return None


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    settings = settings or current_settings()
    models = load_models(settings)
    specs = models_in(models)
    merged = dg.Definitions.merge(
        models,
        data.build_defs(),
        features.build_defs(),
        dbt.build_defs(settings, [spec.name for spec in specs], gate=[daily_reports.DAILY_REPORTS_KEY]),
        daily_reports.build_defs(specs),
        overview.build_defs(specs),
        jobs.build_defs(specs),
        automation.build_defs(specs, settings.branch_retention_days),
        resources.build_defs(settings),
    )
    return _with_platform_policy(merged)


def _with_platform_policy(defs: dg.Definitions) -> dg.Definitions:
    """What every asset gets, applied once here rather than in each decorator: daily assets are
    overdue like any daily data when their day is not rebuilt (``DAILY_DATA`` freshness), and
    every asset links to the file and line that computes it (the UI's code references).

    Dagster's ``with_source_code_references`` reads each function's source to find its line
    (about 3 ms an asset, 1 s for 100 models); the compiled function already knows it.
    """
    references = _code_references(defs)

    def apply(spec: dg.AssetSpec) -> dg.AssetSpec:
        metadata = {**references.get(spec.key, {}), **spec.metadata}  # dbt models link their SQL
        if spec.partitions_def == DAILY and spec.freshness_policy is None:
            return spec.replace_attributes(metadata=metadata, freshness_policy=DAILY_DATA)
        return spec.replace_attributes(metadata=metadata)

    with warnings.catch_warnings():  # map_asset_specs is a preview API: said once here, not per load
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return defs.map_asset_specs(func=apply)


def _code_references(defs: dg.Definitions) -> dict[dg.AssetKey, dict[str, dg.CodeReferencesMetadataValue]]:
    """The file and first line of the function that computes each asset."""
    references = {}
    with warnings.catch_warnings():  # code references are a beta API: say so once here, not per asset
        warnings.simplefilter("ignore", dg.BetaWarning)
        for assets_def in defs.assets or []:
            if not isinstance(assets_def, dg.AssetsDefinition):
                continue
            code = assets_def.op.compute_fn.decorated_fn.__code__
            reference = {
                "dagster/code_references": dg.CodeReferencesMetadataValue(
                    code_references=[
                        dg.LocalFileCodeReference(file_path=code.co_filename, line_number=code.co_firstlineno)
                    ]
                )
            }
            references.update(dict.fromkeys(assets_def.keys, reference))
    return references


defs = build_definitions()
