"""The local versioned store's objects over HTTP, for people: what lakeFS's server does for lakeFS.

Reports and the overview are objects of the versioned store at a commit, linked from their
materializations with lakeFS's own object route (``/api/v1/repositories/<repo>/refs/<ref>/objects
?path=<path>``). A lakeFS server answers that link itself; for the embedded local store ``make dev``
starts this read-only server on 127.0.0.1, so the same links open on both backends. It only reads:
GET on that route, the object's bytes with the type its name implies, 404 for anything else.
"""

from __future__ import annotations

import re
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from mlops_assets.errors import MlopsError, ObjectNotFound, RefNotFound
from mlops_assets.lib.versioned_store import VersionedStore
from mlops_assets.lib.versioned_store.base import content_type

_ROUTE = re.compile(r"^/api/v1/repositories/(?P<repository>[^/]+)/refs/(?P<ref>[^/]+)/objects$")


def _handler(store: VersionedStore) -> type[BaseHTTPRequestHandler]:
    repository = store.describe().repository

    class StoreObjects(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            url = urlsplit(self.path)
            found = _ROUTE.match(url.path)
            path = parse_qs(url.query).get("path", [""])[0]
            if not found or unquote(found["repository"]) != repository or not path:
                self._send(HTTPStatus.NOT_FOUND, b"not an object of this store\n", "text/plain")
                return
            try:
                data = store.read_object(unquote(found["ref"]), path)
            except (ObjectNotFound, RefNotFound) as exc:
                self._send(HTTPStatus.NOT_FOUND, f"{exc}\n".encode(), "text/plain")
                return
            except MlopsError as exc:
                self._send(HTTPStatus.BAD_REQUEST, f"{exc}\n".encode(), "text/plain")
                return
            self._send(HTTPStatus.OK, data, content_type(path))

        def _send(self, status: HTTPStatus, body: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's name
            pass  # quiet: `make dev` prints the UIs' addresses, not every page view

    return StoreObjects


class StoreBrowser:
    """The read-only object server on 127.0.0.1:``port`` (0: a free port), in a daemon thread."""

    def __init__(self, store: VersionedStore, port: int = 0):
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler(store))
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="store-browser", daemon=True)

    def __enter__(self) -> StoreBrowser:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
