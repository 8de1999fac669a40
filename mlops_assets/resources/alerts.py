"""Alerts: always logged; POSTed as JSON to a webhook when one is configured."""

import json
import logging
import urllib.request

import dagster as dg

logger = logging.getLogger("mlops_assets.alerts")


class AlertResource(dg.ConfigurableResource):
    webhook_url: str = ""
    timeout_seconds: float = 10.0

    def send(self, payload: dict) -> bool:
        """Log the alert and deliver it; a webhook failure is logged, never raised (alerting must not fail runs)."""
        logger.error("ALERT %s", json.dumps(payload, sort_keys=True))
        if not self.webhook_url:
            return False
        request = urllib.request.Request(
            self.webhook_url,
            data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:
                return 200 <= response.status < 300
        except OSError as exc:
            logger.error("alert webhook %s failed: %s", self.webhook_url.split("?")[0], exc)
            return False
