"""Partitioning shared by every daily asset: one partition per day of 2013."""

import dagster as dg

DAILY = dg.DailyPartitionsDefinition(start_date="2013-01-01", end_date="2014-01-01")
OWNERS = ["team:ml-platform"]
