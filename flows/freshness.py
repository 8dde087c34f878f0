"""Whether the published personas are fresh, due, stale or alarmingly old.

Produces `Freshness` from the current refresh's time and the cadence: the next
due date (last successful refresh + cadence_months), the state (`fresh` before
it; `stale` after it; `alert` once the last refresh is older than twelve months,
the longest interval marketing practice allows; `never` with no refresh at all)
and the exit code `personas status` returns, so monitoring can act on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from dateutil.relativedelta import relativedelta

State = Literal["fresh", "stale", "alert", "never"]
ALERT_AFTER_MONTHS = 12


@dataclass(frozen=True)
class Freshness:
    """How current the published refresh is."""

    state: State
    last_success_at: datetime | None
    next_due_at: datetime | None
    days_overdue: int

    @property
    def exit_code(self) -> int:
        """0 when fresh; 1 when stale, alarmingly old or never refreshed."""
        return 0 if self.state == "fresh" else 1

    def describe(self) -> str:
        """One line for people."""
        if self.state == "never" or self.last_success_at is None or self.next_due_at is None:
            return "never refreshed: run personas refresh"
        due = f"next due {self.next_due_at:%Y-%m-%d}"
        if self.state == "fresh":
            return f"fresh: last refreshed {self.last_success_at:%Y-%m-%d}; {due}"
        late = f"{self.days_overdue} day(s) overdue"
        if self.state == "stale":
            return f"stale: {due}, {late}; run personas refresh"
        return (
            f"alert: last refreshed {self.last_success_at:%Y-%m-%d}, more than "
            f"{ALERT_AFTER_MONTHS} months ago ({late}); run personas refresh"
        )


def freshness(last_success_at: datetime | None, *, cadence_months: int, now: datetime) -> Freshness:
    """The state of a warehouse whose current refresh finished at `last_success_at` (UTC)."""
    if last_success_at is None:
        return Freshness("never", None, None, 0)
    next_due = last_success_at + relativedelta(months=cadence_months)
    overdue = max((now - next_due).days, 0)
    if now > last_success_at + relativedelta(months=ALERT_AFTER_MONTHS):
        state: State = "alert"
    elif now > next_due:
        state = "stale"
    else:
        state = "fresh"
    return Freshness(state, last_success_at, next_due, overdue)
