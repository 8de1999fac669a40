"""What logs, errors and pages may show of a value that can carry a secret.

A URL can hold one in its user:password, its path (Slack-style webhook tokens) or its query, so
only its scheme, host and port are shown. A local file URI (sqlite, file) names a path on this
machine, never a credential, and is shown whole.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import SecretStr

LOCAL_SCHEMES = ("sqlite", "file")


def host_only(url: str) -> str:
    """``https://user:token@hooks.example:8443/services/T0/B0/XyZ?k=v`` -> ``https://hooks.example:8443/…``."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # a malformed netloc or port: nothing of it is safe to show
        return "<redacted URL>"
    if parts.scheme in LOCAL_SCHEMES:
        return url
    if not parts.hostname:
        return f"{parts.scheme}:…" if parts.scheme else "<redacted URL>"
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    shown = f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")
    rest = parts.path.strip("/") or parts.query or parts.fragment
    return shown + ("/…" if rest else "")


class SecretUrl(SecretStr):
    """A URL that may carry a secret: ``repr`` and ``str`` show its host only, the value stays
    available through ``get_secret_value()``."""

    def _display(self) -> str:
        return host_only(self.get_secret_value())
