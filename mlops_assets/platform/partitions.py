"""Partitioning shared by every daily asset: one partition per day of 2013."""

import dagster as dg

DAILY = dg.DailyPartitionsDefinition(start_date="2013-01-01", end_date="2014-01-01")
# The shape of every daily asset, spread into its decorator: a day per partition, and a range
# (a backfill) runs as one run. Freshness is applied once to every daily asset in
# definitions.py; each asset's automation condition is its own (what it may ignore differs).
DAILY_ASSET = {"partitions_def": DAILY, "backfill_policy": dg.BackfillPolicy.single_run()}
OWNERS = ["team:ml-platform"]
