"""The Dagster UI main path in a real headless browser (Debian's chromium driven by Playwright).

Over a real state served by the real webserver and daemon (tests/ui/conftest.py): the asset graph
shows our groups and assets, an asset page shows its contract check, the check's result and plotted
metadata, and a 3-day backfill of both raw assets launched by clicks (job page, Materialize all) is
run by the daemon as one run: with one bad landed day inside the range, the good days are
published and the bad one fails its contract check, visibly in the UI.
Screenshots go to a temporary directory whose paths are printed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from mlops_assets.lib.versioned_store import LocalStore
from mlops_assets.lib.versioned_store.wap import table_path
from tests.browser import launched_browser

from .conftest import BACKFILL_DAYS, LOCATION, RAW_DAILY, World
from .test_backfill_graphql import backfill_runs, check_results, wait_backfill

pytestmark = pytest.mark.slow
GROUPS = ["raw", "features", "models", "predictions", "monitoring", "dbt"]
BAD_LANDED_DAY = "2013-03-16"  # read by the world fixture: this module's state has one bad day
UI_TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with launched_browser() as launched:
        yield launched


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    context.set_default_timeout(UI_TIMEOUT_MS)
    tab = context.new_page()
    # The "Join the Dagster community" modal shows up on some first visits: dismiss it whenever it does.
    # Its button gets the click event itself: another dialog (the launchpad) may lie over it, and a
    # pointer click would land on that one and time out.
    tab.add_locator_handler(tab.get_by_role("button", name="Skip"), lambda skip: skip.dispatch_event("click"))
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
    page.goto(f"{world.url}/locations/mlops_assets/asset-groups/dbt")
    page.get_by_text("stg_predictions", exact=True).first.wait_for()
    screenshot(page, shots, "2_group_dbt")
    # A dbt mart's page: its description from the dbt project's YAML.
    page.goto(f"{world.url}/assets/dbt/marts/fct_model_daily_performance")
    page.get_by_text("Daily performance of the serving model version", exact=False).first.wait_for()
    screenshot(page, shots, "2_dbt_mart")
    print(f"[ui] graph navigation {time.monotonic() - started:.1f} s")


def test_asset_page_shows_contract_check_and_metadata(world: World, page, shots: Path):
    started = time.monotonic()
    page.goto(f"{world.url}/assets/raw/flights?view=checks")
    # The page opens on the first check by name (anomalies, the warning one): pick the contract.
    page.get_by_text("contract", exact=True).first.click()
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


def launch_job_backfill_by_clicks(world: World, page, shots: Path, job: str) -> str:
    """Job page → Materialize all → Custom range → Launch backfill: one backfill of every asset in the job."""
    before = {b.backfill_id for b in world.instance.get_backfills()}
    page.goto(f"{world.url}/locations/{LOCATION}/jobs/{job}")
    dialog = page.get_by_role("dialog").filter(has=page.get_by_role("button", name="Custom"))
    # The community modal's "Skip" (dismissed by the page's handler) can close this dialog as it
    # opens: open it again, a bounded number of times.
    for _ in range(3):
        page.get_by_role("button", name="Materialize all").first.click()
        try:
            dialog.get_by_role("button", name="Custom").wait_for(timeout=10_000)
            break
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
    dialog.get_by_role("button", name="Custom").click()
    field = dialog.get_by_placeholder("ex:", exact=False)
    field.fill(f"[{BACKFILL_DAYS[0]}...{BACKFILL_DAYS[-1]}]")
    field.press("Enter")
    dialog.get_by_text("3 partitions").first.wait_for()
    # Several assets: the dialog names their count; that both go in one run is asserted on the runs.
    dialog.get_by_text("Launch runs to materialize 2 assets").wait_for()
    screenshot(page, shots, f"5_launch_dialog_{job}")
    dialog.get_by_role("button", name="Launch backfill").click()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        new = [b.backfill_id for b in world.instance.get_backfills() if b.backfill_id not in before]
        if new:
            return new[0]
        time.sleep(0.5)
    screenshot(page, shots, "launch_failed")
    pytest.fail(f"no backfill was created 30 s after clicking Launch backfill on job {job}")


def test_backfill_of_both_raw_assets_by_clicks_publishes_the_good_days(world: World, page, shots: Path):
    """Three landed days, one of them bad: one backfill by clicks, one run for both assets; the good
    days are published, the bad one fails its contract check (visible in the UI) and stays off main."""
    started = time.monotonic()
    flights, weather = RAW_DAILY
    for key in RAW_DAILY:
        assert world.materialized_partitions(key, BACKFILL_DAYS) == [], (
            "the backfill target is already published"
        )
    backfill_id = launch_job_backfill_by_clicks(world, page, shots, "raw_daily")
    wait_backfill(world, backfill_id)
    runs = backfill_runs(world, backfill_id)
    # single_run() backfill policy: both assets and all three days are one run, which fails on the bad day.
    assert [r.status for r in runs] == [dg.DagsterRunStatus.FAILURE], [(r.run_id, r.status) for r in runs]
    assert check_results(world, runs[0].run_id, "contract") == {"raw/flights": False, "raw/weather": True}

    main = LocalStore(world.settings.local_store_dir)
    published = lambda key: sorted(  # noqa: E731
        d for d in BACKFILL_DAYS if main.object_exists("main", table_path(key.path, d))
    )
    assert published(weather) == BACKFILL_DAYS
    assert published(flights) == [d for d in BACKFILL_DAYS if d != BAD_LANDED_DAY]

    # What an operator sees: the failed blocking check naming the day and the file.
    page.goto(f"{world.url}/assets/raw/flights?view=checks")
    page.get_by_text("contract", exact=True).first.click()
    page.get_by_text("Failed", exact=True).first.wait_for()
    page.get_by_text(f"partition {BAD_LANDED_DAY}", exact=False).first.wait_for()
    screenshot(page, shots, "6_failed_check_bad_day")
    page.goto(f"{world.url}/runs/b/{backfill_id}")
    page.get_by_text("Failed", exact=True).first.wait_for()
    screenshot(page, shots, "7_backfill_page")
    print(f"[ui] backfill {backfill_id} done; test wall time {time.monotonic() - started:.1f} s")
