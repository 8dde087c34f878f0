"""Retention: keep the data of the last N published refreshes, remove the rest.

Produces `prune`, which deletes the rows of older refreshes from every
`<table>_history` data table and stamps their run records with `pruned_at`
(run records themselves are kept: they are the audit trail and are small).
The current refresh is never pruned. It runs in one transaction under the
publishing lock, so a reader sees the refreshes before or after, never half.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime

import sqlalchemy as sa

from warehouse.publish import Warehouse
from warehouse.tables import DATA_TABLES, REFRESH_RUNS


@dataclass(frozen=True)
class RefreshHeld:
    """One published refresh still held in the history tables."""

    refresh_id: str
    as_of: date
    last_published_at: datetime
    is_current: bool
    rows: int | None = None  # history rows across the data tables; counted when pruned


@dataclass(frozen=True)
class PruneResult:
    """What `prune` removed (or, on a dry run, would remove) and what it kept."""

    pruned: list[RefreshHeld]
    kept: list[RefreshHeld]
    dry_run: bool

    @property
    def rows_pruned(self) -> int:
        """Rows removed across all history tables."""
        return sum(refresh.rows or 0 for refresh in self.pruned)


def prune(warehouse: Warehouse, keep: int, *, dry_run: bool = False) -> PruneResult:
    """Keep the `keep` most recently published refreshes (and always the current one).

    Args:
        warehouse: the warehouse; its layout must be current (`ensure_schema`).
        keep: how many refreshes to keep, at least 1.
        dry_run: report what would go, change nothing.
    """
    if keep < 1:
        raise ValueError(f"keep must be at least 1, got {keep}")
    with warehouse.writing("pruning failed, nothing was removed") as connection:
        held = _held_refreshes(connection, warehouse)
        kept = held[:keep] + [r for r in held[keep:] if r.is_current]
        pruned = [r for r in held[keep:] if not r.is_current]
        # Only the refreshes to prune are counted: scanning every kept refresh's rows
        # after each publish would cost more as history grows.
        rows = _rows_per_refresh(connection, warehouse, [r.refresh_id for r in pruned])
        pruned = [replace(r, rows=rows.get(r.refresh_id, 0)) for r in pruned]
        if pruned and not dry_run:
            _delete(connection, warehouse, [r.refresh_id for r in pruned])
    return PruneResult(pruned=pruned, kept=kept, dry_run=dry_run)


def _held_refreshes(connection: sa.Connection, warehouse: Warehouse) -> list[RefreshHeld]:
    """Refreshes with data still held, most recently published first."""
    runs = warehouse.history[REFRESH_RUNS.name]
    published = (
        sa.select(
            runs.c.refresh_id,
            sa.func.max(runs.c.as_of).label("as_of"),
            sa.func.max(runs.c.finished_at).label("last_published_at"),
        )
        .where(runs.c.status == "succeeded", runs.c.pruned_at.is_(None))
        .group_by(runs.c.refresh_id)
        .order_by(sa.desc("last_published_at"), runs.c.refresh_id)
    )
    current = connection.execute(sa.select(warehouse.pointer.c.refresh_id)).scalar()
    return [
        RefreshHeld(
            refresh_id=row.refresh_id,
            as_of=row.as_of,
            last_published_at=row.last_published_at,
            is_current=row.refresh_id == current,
        )
        for row in connection.execute(published)
    ]


def _rows_per_refresh(
    connection: sa.Connection, warehouse: Warehouse, refresh_ids: list[str]
) -> dict[str, int]:
    counts: dict[str, int] = {}
    if not refresh_ids:
        return counts
    for spec in DATA_TABLES:
        table = warehouse.history[spec.name]
        query = (
            sa.select(table.c.refresh_id, sa.func.count())
            .where(table.c.refresh_id.in_(refresh_ids))
            .group_by(table.c.refresh_id)
        )
        for refresh_id, count in connection.execute(query):
            counts[refresh_id] = counts.get(refresh_id, 0) + count
    return counts


def _delete(connection: sa.Connection, warehouse: Warehouse, refresh_ids: list[str]) -> None:
    for spec in DATA_TABLES:
        table = warehouse.history[spec.name]
        connection.execute(table.delete().where(table.c.refresh_id.in_(refresh_ids)))
    runs = warehouse.history[REFRESH_RUNS.name]
    connection.execute(
        runs.update()
        .where(runs.c.refresh_id.in_(refresh_ids), runs.c.pruned_at.is_(None))
        .values(pruned_at=datetime.now(UTC).replace(tzinfo=None))
    )
