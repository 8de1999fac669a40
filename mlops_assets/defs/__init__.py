"""The dg defs folder: one folder per model under ``models/`` (a ``ModelComponent`` each).

The rest of the platform (raw data, features, dbt, sensors, resources) is Python in
``mlops_assets/platform/``; ``definitions.py`` merges the two.
"""
