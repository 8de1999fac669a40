"""The platform around the models, in Python, one folder per concern (the folder is the asset key's
prefix): raw data, features, dbt, jobs, sensors, resources, and the per-model factories that each
``ModelComponent`` calls. The models themselves are the dg defs folder, ``mlops_assets/defs/``.
"""

import warnings

# Every daily asset runs a range as one run (BackfillPolicy.single_run()), a parameter Dagster
# marks beta: the README says so once; here it would print once per asset and process.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=Warning)
# The one condition written in Python is evaluated in the code server (use_user_code_server), also beta.
warnings.filterwarnings("ignore", message="Parameter `use_user_code_server`", category=Warning)
# Dagster itself rebuilds asset checks with a beta parameter when it loads the repository.
warnings.filterwarnings("ignore", message="Parameter `execution_type`", category=Warning)
