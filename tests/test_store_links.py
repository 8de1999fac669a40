"""Reports are objects of the versioned store, linked with lakeFS's object route: a lakeFS server
answers the link itself, and the local store's browser (`make dev`) answers the same link."""

from __future__ import annotations

import base64
import urllib.error
import urllib.request

import pytest

from mlops_assets.lib.versioned_store import LocalStore
from mlops_assets.lib.versioned_store.base import object_url
from mlops_assets.lib.versioned_store.lakefs import LakeFSStore
from mlops_assets.store_browser import StoreBrowser
from tests.lakefs_fake.server import FakeLakeFS
from tests.store_links import fetch, object_of

PAGE = "<!DOCTYPE html><html><head><title>report é</title></head><body>ok</body></html>".encode()
PATH = "monitoring/late_arrival/daily_report/date=2013-01-05/report.html"


def _publish_page(store) -> str:
    store.ensure_repository()
    store.create_branch("wap-page", "main")
    store.write_object("wap-page", PATH, PAGE)
    return store.commit("wap-page", "a report").id


def test_the_local_store_browser_serves_an_object_at_its_commit_as_its_type(tmp_path):
    store = LocalStore(tmp_path / "store")
    commit = _publish_page(store)
    with StoreBrowser(store) as browser:
        link = object_url(browser.url, "mlops", commit, PATH)
        assert object_of(link) == (commit, PATH)
        assert fetch(link) == ("text/html", PAGE)
        # The commit keeps the page after its branch is gone (a WAP branch is deleted once merged).
        store.delete_branch("wap-page")
        assert fetch(link)[1] == PAGE
        for missing in (
            object_url(browser.url, "mlops", commit, "monitoring/nothing.html"),
            object_url(browser.url, "mlops", "0" * 64, PATH),
            object_url(browser.url, "another-repository", commit, PATH),
            f"{browser.url}/anything",
        ):
            with pytest.raises(urllib.error.HTTPError) as failed:
                fetch(missing)
            assert failed.value.code == 404, missing


def test_lakefs_serves_the_same_link_with_the_type_the_page_was_uploaded_with():
    with FakeLakeFS() as lakefs:
        store = LakeFSStore(
            lakefs.endpoint, lakefs.access_key_id, lakefs.secret_access_key, "mlops", "local://m"
        )
        commit = _publish_page(store)
        link = object_url(lakefs.endpoint, "mlops", commit, PATH)
        request = urllib.request.Request(link)
        token = base64.b64encode(f"{lakefs.access_key_id}:{lakefs.secret_access_key}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")  # what the lakeFS UI's session stands for
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.headers["Content-Type"] == "text/html"
            assert response.read() == PAGE
        assert lakefs.unknown_calls == []
