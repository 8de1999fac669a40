"""Reusable machinery: plain Python, no Dagster definitions at import."""
