"""How a run's stages are executed: as Prefect tasks in a flow run, or as plain calls.

Produces `Stages`, the one place that decides it. Under a Prefect API (a
configured server, `personas serve`, a worker) each stage is a task run,
visible in the UI, and Prefect carries the retries. With no API configured the
same stage functions run as plain calls, with the same retries done here,
and nothing starts a temporary Prefect server. Either way only transient
failures (a dropped connection, a busy warehouse) are retried, with
exponential backoff: `retry_delay_seconds`, then twice that, and so on.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from config.settings import Settings

Result = TypeVar("Result")
logger = logging.getLogger("personas")


def prefect_api_configured() -> bool:
    """True when a Prefect API is configured (PREFECT_API_URL or the active profile)."""
    if os.environ.get("PREFECT_API_URL"):
        return True
    if "prefect" in sys.modules:  # imported already: its settings (a test harness's too)
        from prefect.settings import get_current_settings

        return bool(get_current_settings().api.url)
    return bool(_profile_api_url())


def _profile_api_url() -> str | None:
    """PREFECT_API_URL of the active Prefect profile (`PREFECT_PROFILE`, else the
    profiles file's `active`), read from `$PREFECT_HOME/profiles.toml`; importing Prefect
    to ask would cost seconds on every command that runs without it."""
    home = Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect").expanduser()
    path = Path(os.environ.get("PREFECT_PROFILES_PATH") or home / "profiles.toml").expanduser()
    try:
        profiles = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return None
    active = os.environ.get("PREFECT_PROFILE") or profiles.get("active") or "ephemeral"
    settings = profiles.get("profiles", {}).get(active, {})
    url = settings.get("PREFECT_API_URL") if isinstance(settings, dict) else None
    return str(url) if url else None


def backoff_delays(first: float, retries: int) -> list[float]:
    """The waits before each retry: first, 2 × first, 4 × first …"""
    return [first * 2**attempt for attempt in range(retries)]


@dataclass(frozen=True)
class Stages:
    """Runs the stages of a refresh or drift check, with Prefect or without it."""

    with_prefect: bool
    retries: int = 0
    retry_delay_seconds: float = 0

    @classmethod
    def for_settings(cls, settings: Settings, *, with_prefect: bool) -> Stages:
        """Stages with the configured retries (`[schedule] retries`, `retry_delay_seconds`)."""
        schedule = settings.schedule
        return cls(with_prefect, schedule.retries, schedule.retry_delay_seconds)

    def run(self, stage: Any, *args: Any, retry: bool = False) -> Any:
        """Run `stage` (a function of `pipeline`) on `args`, as its Prefect task under a
        flow run; `retry` for stages that talk to other
        systems (extract, publish) and may fail transiently."""
        if self.with_prefect:
            from flows.tasks import as_task  # Prefect is imported only for a flow run

            stage = as_task(stage)
            if retry:
                stage = stage.with_options(
                    retries=self.retries,
                    retry_delay_seconds=backoff_delays(self.retry_delay_seconds, self.retries),
                )
            return stage(*args)
        return self._call_with_retries(stage, args, self.retries if retry else 0)

    def _call_with_retries(self, function: Any, args: tuple[Any, ...], retries: int) -> Any:
        delays = backoff_delays(self.retry_delay_seconds, retries)
        for attempt in range(retries + 1):
            try:
                return function(*args)
            except Exception as exc:
                # Only what may pass on a second try; bad data or settings fail the same way.
                if attempt == retries or not getattr(exc, "transient", False):
                    raise
                logger.warning(
                    "%s failed (%s); retry %d of %d in %g s",
                    getattr(function, "__name__", "stage"),
                    exc,
                    attempt + 1,
                    retries,
                    delays[attempt],
                )
                time.sleep(delays[attempt])
        raise AssertionError("unreachable")  # the loop returns or raises
