"""Notifications: a failed refresh, or stale personas, posted to a configured webhook.

Produces `notify(settings, event, **details)`: a JSON POST to `[notify]
webhook_url` (Slack/Teams-style incoming webhooks, or any HTTP endpoint) with
`event`, a one-line `text` for chat tools, and the details. Best effort: a
notification that cannot be delivered is logged as a warning and never hides
the failure it reports. The URL is a secret (it often embeds a token) and is
never logged.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from config.settings import Settings

logger = logging.getLogger("personas.notify")


def notify(settings: Settings, event: str, text: str, **details: Any) -> bool:
    """Post `event` if a webhook is configured and wants it; True when delivered."""
    config = settings.notify
    if config.webhook_url is None or event not in config.events:
        return False
    payload = {"event": event, "text": f"personas: {text}", **details}
    try:
        response = httpx.post(
            config.webhook_url.get_secret_value(),
            json=payload,
            timeout=config.timeout_seconds,
        )
        response.raise_for_status()
    except Exception as exc:  # anything: a notification never hides what it reports
        # The URL may hold a token: name the failure, not the address.
        logger.warning("could not deliver the %s notification: %s", event, type(exc).__name__)
        return False
    return True
