"""The Dagster UI main path in a real headless browser (Debian's chromium driven by Playwright).

Over a real state served by the real webserver and daemon (tests/ui/conftest.py): the asset graph
shows our groups and assets, an asset page shows its contract check, the check's result and plotted
metadata, and a 3-day backfill launched by clicks in the Materialize dialog is run by the daemon.
Screenshots go to a temporary directory whose paths are printed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from .conftest import BACKFILL_DAYS, World
from .test_backfill_graphql import backfill_runs, check_results, wait_backfill

pytestmark = pytest.mark.slow
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
GROUPS = ["raw", "features", "models", "predictions", "monitoring"]
UI_TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    # Fail, never skip: a missing browser must not look like a passing UI.
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run `bash deploy/scripts/ensure_browser.sh` as root (make system-deps)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: `.venv/bin/pip install -e '.[dev]'` (never `playwright install`)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    context.set_default_timeout(UI_TIMEOUT_MS)
    tab = context.new_page()
    # The "Join the Dagster community" modal shows up on some first visits: dismiss it whenever it does.
    tab.add_locator_handler(tab.get_by_role("button", name="Skip"), lambda skip: skip.click())
    yield tab
    context.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ui_screenshots")


def screenshot(page, shots: Path, name: str) -> Path:
    path = shots / f"{name}.png"
    page.screenshot(path=str(path))
    print(f"[ui] screenshot {path}")
    return path


def test_asset_graph_shows_groups_and_assets(world: World, page, shots: Path):
    started = time.monotonic()
    page.goto(f"{world.url}/asset-groups")
    page.get_by_text("Global asset lineage").wait_for()
    for group in GROUPS:
        page.get_by_text(group, exact=True).first.wait_for()
    screenshot(page, shots, "1_asset_graph")
    # A group's graph lists its assets (and the sidebar the others).
    page.goto(f"{world.url}/locations/mlops_assets/asset-groups/features")
    for name in ("flight_features", "late_arrival", "arrival_delay", "daily_report"):
        page.get_by_text(name, exact=True).first.wait_for()
    screenshot(page, shots, "2_group_features")
    print(f"[ui] graph navigation {time.monotonic() - started:.1f} s")


def test_asset_page_shows_contract_check_and_metadata(world: World, page, shots: Path):
    started = time.monotonic()
    page.goto(f"{world.url}/assets/raw/flights?view=checks")
    page.get_by_text("contract", exact=True).first.wait_for()
    page.get_by_text("This is a blocking asset check.").wait_for()
    page.get_by_text("Evaluation result").wait_for()
    page.get_by_text("Passed", exact=True).first.wait_for()
    # The check's float/int metadata, plotted across executions.
    page.get_by_text("Plots", exact=True).wait_for()
    page.get_by_text("rows_checked", exact=True).first.wait_for()
    screenshot(page, shots, "3_asset_checks")
    page.goto(f"{world.url}/assets/raw/flights?view=events")
    for key in ("dagster/row_count", "landed_file"):
        page.get_by_text(key, exact=True).first.wait_for()
    screenshot(page, shots, "4_asset_events")
    print(f"[ui] asset page {time.monotonic() - started:.1f} s")


def launch_backfill_by_clicks(world: World, page, shots: Path, asset: str) -> str:
    """Materialize… → Custom range → Launch backfill on ``asset``'s page; returns the new backfill id."""
    before = {b.backfill_id for b in world.instance.get_backfills()}
    page.goto(f"{world.url}/assets/{asset}?view=partitions")
    page.get_by_role("button", name="Materialize…").first.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text(f"Launch runs to materialize {asset.replace('/', ' / ')}").wait_for()
    dialog.get_by_role("button", name="Custom").click()
    field = dialog.get_by_placeholder("ex:", exact=False)
    field.fill(f"[{BACKFILL_DAYS[0]}...{BACKFILL_DAYS[-1]}]")
    field.press("Enter")
    dialog.get_by_text("3 partitions").wait_for()
    dialog.get_by_text("Backfills all partitions in a single run.").wait_for()
    screenshot(page, shots, f"5_launch_dialog_{asset.replace('/', '_')}")
    dialog.get_by_role("button", name="Launch backfill").click()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        new = [b.backfill_id for b in world.instance.get_backfills() if b.backfill_id not in before]
        if new:
            return new[0]
        time.sleep(0.5)
    screenshot(page, shots, "launch_failed")
    pytest.fail(f"no backfill was created 30 s after clicking Launch backfill on {asset}")


def test_backfill_three_days_by_clicks(world: World, page, shots: Path):
    started = time.monotonic()
    keys = {"raw/flights": dg.AssetKey(["raw", "flights"]), "raw/weather": dg.AssetKey(["raw", "weather"])}
    for key in keys.values():
        assert world.materialized_partitions(key, BACKFILL_DAYS) == [], "the backfill target is already published"
    backfills = {asset: launch_backfill_by_clicks(world, page, shots, asset) for asset in keys}

    for asset, backfill_id in backfills.items():
        backfill = wait_backfill(world, backfill_id)
        assert backfill["status"] in ("COMPLETED", "COMPLETED_SUCCESS"), (asset, backfill)
        runs = backfill_runs(world, backfill_id)
        # single_run() backfill policy: the three days are one run.
        assert [r.status for r in runs] == [dg.DagsterRunStatus.SUCCESS], [(r.run_id, r.status) for r in runs]
        assert check_results(world, runs[0].run_id, "contract") == {asset: True}
        assert world.materialized_partitions(keys[asset], BACKFILL_DAYS) == BACKFILL_DAYS, asset

    page.goto(f"{world.url}/runs/b/{backfills['raw/flights']}")
    page.get_by_text("Succeeded", exact=True).first.wait_for()
    screenshot(page, shots, "6_backfill_page")
    print(f"[ui] backfills {backfills} completed; test wall time {time.monotonic() - started:.1f} s")
