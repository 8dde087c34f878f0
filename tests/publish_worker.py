"""A process that publishes one small refresh: crash tests run and SIGKILL it.

Usage: python -m tests.publish_worker URL REFRESH_ID CUSTOMER=REVENUE …
Also the home of the small refresh frames the warehouse tests publish.
"""

from __future__ import annotations

import os
import sys
from datetime import date, datetime
from decimal import Decimal

import polars as pl

from warehouse.publish import RunRecord, Warehouse, WarehouseError
from warehouse.tables import CUSTOMER_SEGMENTS, DATA_TABLES, OutputTable

MONEY = pl.Decimal(38, 4)


def empty_frame(spec: OutputTable) -> pl.DataFrame:
    return pl.DataFrame({c: [] for c in spec.column_names})


def tables_for(revenues: dict[str, str], note: str = "") -> dict[str, pl.DataFrame]:
    """A refresh's tables: real customer rows, the other tables empty but shaped."""
    tables = {spec.name: empty_frame(spec) for spec in DATA_TABLES}
    n = len(revenues)
    tables["customer_segments"] = pl.DataFrame(
        {
            "customer_id": list(revenues),
            "revenue": pl.Series([Decimal(v) for v in revenues.values()], dtype=MONEY),
            "order_count": [1] * n,
            "first_order_at": [datetime(2024, 1, 1)] * n,
            "is_best_customer": [True] * n,
            "reason": [f"Hà Nội, \"quoted\", {note}"] * n,
            "persona_id": [""] * n,  # an empty string must stay empty, not NULL
        }
    ).select(
        pl.col(c) if c in ("customer_id", "revenue", "order_count", "first_order_at",
                          "is_best_customer", "reason", "persona_id")
        else pl.lit(None).alias(c)
        for c in CUSTOMER_SEGMENTS.column_names
    )  # fmt: skip
    return tables


def run_for(refresh_id: str, run_id: str) -> RunRecord:
    now = datetime(2026, 11, 23, 10, 0)
    return RunRecord(
        refresh_id=refresh_id,
        run_id=run_id,
        as_of=date(2026, 6, 30),
        started_at=now,
        finished_at=now,
        status="succeeded",
        trigger="ad-hoc",
        reason="test",
        config_hash="abc",
    )


def main(url: str, refresh_id: str, *pairs: str) -> None:
    revenues = dict(pair.split("=", 1) for pair in pairs)
    timeout = float(os.environ.get("LOCK_TIMEOUT_SECONDS", "60"))
    try:
        warehouse = Warehouse(url, schema="personas", scale=4, lock_timeout_seconds=timeout)
        warehouse.ensure_schema()
        warehouse.publish(tables_for(revenues), run_for(refresh_id, f"{refresh_id}-run"))
        warehouse.dispose()
    except WarehouseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main(*sys.argv[1:])
