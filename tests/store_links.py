"""Opening the store links that materializations carry (reports, the overview), as a person would:
over HTTP, from the local store's browser (``mlops_assets.store_browser``) or a lakeFS server."""

from __future__ import annotations

import urllib.request
from urllib.parse import parse_qs, urlsplit

from mlops_assets.lib.versioned_store import VersionedStore
from mlops_assets.store_browser import StoreBrowser


def object_of(link: str) -> tuple[str, str]:
    """(ref, path) of a link to an object (lakeFS's route ``.../refs/<ref>/objects?path=<path>``)."""
    url = urlsplit(link)
    parts = url.path.split("/")
    assert parts[-1] == "objects" and parts[-3] == "refs", link
    return parts[-2], parse_qs(url.query)["path"][0]


def fetch(link: str, timeout: float = 10) -> tuple[str, bytes]:
    """GET a link; returns (Content-Type, body)."""
    with urllib.request.urlopen(link, timeout=timeout) as response:
        assert response.status == 200, link
        return response.headers["Content-Type"], response.read()


def open_on(store: VersionedStore, link: str) -> tuple[str, bytes]:
    """Open a link to a local store's object through a store browser serving ``store`` (the link's
    host is whatever ``make dev`` would serve on; its route and query are what must hold)."""
    with StoreBrowser(store) as browser:
        url = urlsplit(link)
        return fetch(f"{browser.url}{url.path}?{url.query}")
