"""Dagster definitions, one folder per concern; the folder is the asset key's prefix."""
