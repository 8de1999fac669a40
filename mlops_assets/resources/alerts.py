"""Alerts: always logged; POSTed as JSON to a webhook when one is configured."""

import http.client
import json
import logging
import urllib.error
import urllib.request

import dagster as dg

from mlops_assets.lib.redaction import host_only

logger = logging.getLogger("mlops_assets.alerts")


class AlertResource(dg.ConfigurableResource):
    webhook_url: str = ""
    timeout_seconds: float = 10.0

    def send(self, payload: dict) -> bool:
        """Log the alert and deliver it; a webhook failure is logged, never raised (alerting must not fail runs)."""
        logger.error("ALERT %s", json.dumps(payload, sort_keys=True))
        url = self.webhook_url.strip()  # a secret mounted from a file ends with a newline
        if not url:
            return False
        request = urllib.request.Request(
            url,
            data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:
                return 200 <= response.status < 300
        except (OSError, ValueError, http.client.HTTPException) as exc:
            # The host only, and the reason without the exception's text: both can repeat the URL's
            # path, where Slack-style webhooks keep their token.
            logger.error("alert webhook %s failed: %s", host_only(url), _reason(exc))
            return False


def _reason(exc: Exception) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code}"
    if isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, OSError):
        return f"{type(exc.reason).__name__} (errno {exc.reason.errno})"
    return type(exc).__name__
