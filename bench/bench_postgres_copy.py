"""Benchmark: publishing N customer rows to PostgreSQL against a plain psycopg COPY.

Produces one table: seconds for `Warehouse.publish` of a refresh whose
customer_segments has N rows (the other tables empty), seconds for a bare
psycopg `COPY … FROM STDIN` of the same rows (the same CSV) into an
identical empty table, and the ratio plain / publish (1.0 = as fast as plain
COPY). Each side runs `--repeat` times in a fresh database; medians are shown.

Usage:
    python bench/bench_postgres_copy.py [--rows 1000000] [--url postgresql+psycopg://…]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
import uuid
from datetime import date, datetime
from pathlib import Path

import numpy as np
import polars as pl
import psycopg
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from warehouse.bulk_load import write_copy_csv  # noqa: E402
from warehouse.publish import RunRecord, Warehouse  # noqa: E402
from warehouse.tables import CUSTOMER_SEGMENTS, DATA_TABLES  # noqa: E402

# A reason as long as a refresh writes (about 650 characters): the widest column by far.
REASON = (
    "tier {tier}: most revenue (70000000.0000) from {tier} sales; tiers bought: {tier} "
    "(order value: Large from 1.53141E+8, Medium from 3.1524E+7 (natural breaks of the "
    "order value of 4,971,077 purchases, binned into 695 log bins)); Pareto class C; RFM "
    "Hibernating: R1 F1 M2 (FM 2); score = 1 + floor(5 × share of customers worse); "
    "demographic Unknown: no rule matched (not in the data: customer_type, employee_count); "
    "geographic Hà Nội: city = Hà Nội; psychographic Unknown: no rule matched (not in the "
    "data: attitude_to_technology); behavioural Lapsed: recency_days ≥ 366; best customer: "
    "no (profit: gross profit); config db15a8e0ccf2"
)


def customer_rows(n: int) -> pl.DataFrame:
    """N customer_segments rows with realistic types and values."""
    rng = np.random.default_rng(1)
    revenue = pl.Series(rng.integers(1, 10**10, n)).cast(pl.Decimal(38, 4))
    frame = pl.DataFrame(
        {
            "customer_id": [f"{i:08d}" for i in range(n)],
            "revenue": revenue,
            "order_count": rng.integers(1, 50, n),
            "quantity": rng.integers(1, 500, n),
            "first_order_at": pl.Series([datetime(2024, 1, 1)] * n),
            "last_order_at": pl.Series([datetime(2026, 6, 1)] * n),
            "recency_days": rng.integers(0, 900, n),
            "tenure_days": rng.integers(0, 900, n),
            "avg_order_value": revenue,
            "tier": rng.choice(["Large", "Medium", "Small"], n),
            "pareto_rank": np.arange(1, n + 1),
            "cumulative_share": np.linspace(0, 1, n),
            "pareto_class": rng.choice(["A", "B", "C"], n),
            "r_score": rng.integers(1, 6, n),
            "f_score": rng.integers(1, 6, n),
            "m_score": rng.integers(1, 6, n),
            "rfm_segment": rng.choice(["Champions", "Loyal", "Lost"], n),
            "demographic_segment": rng.choice(["SME (10-199 staff)", "Consumers"], n),
            "geographic_segment": rng.choice(["Hà Nội", "TP HCM"], n),
            "psychographic_segment": rng.choice(["Early adopters", "Mainstream"], n),
            "behavioural_segment": rng.choice(["Repeat buyers", "Lapsed"], n),
            "is_best_customer": rng.random(n) < 0.05,
            "persona_id": rng.choice(["P1", ""], n),
            "reason": rng.choice([REASON.format(tier=tier) for tier in ("Large", "Small")], n),
            "key_tier_revenue": revenue,
            "p_alive": rng.random(n),
            "expected_purchases": rng.random(n) * 5,
            "predicted_clv": revenue,
        }
    )
    return frame.select(CUSTOMER_SEGMENTS.column_names)


def fresh_database(admin_url: str) -> tuple[str, str]:
    name = f"personas_bench_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine.dispose()
    url = sa.engine.make_url(admin_url).set(database=name)
    return url.render_as_string(hide_password=False), name


def drop_database(admin_url: str, name: str) -> None:
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    engine.dispose()


def time_publish(url: str, rows: pl.DataFrame) -> float:
    warehouse = Warehouse(url, schema="personas", scale=4)
    warehouse.ensure_schema()
    tables = {spec.name: pl.DataFrame({c: [] for c in spec.column_names}) for spec in DATA_TABLES}
    tables["customer_segments"] = rows
    now = datetime.now()
    run = RunRecord("bench", "bench-run", date(2026, 6, 30), now, now, "succeeded", "ad-hoc",
                    "benchmark", "bench")  # fmt: skip
    started = time.perf_counter()
    warehouse.publish(tables, run)
    elapsed = time.perf_counter() - started
    warehouse.dispose()
    return elapsed


def time_plain_copy(url: str, rows: pl.DataFrame) -> float:
    """A bare psycopg COPY of the same CSV into a same-shaped table, in one transaction."""
    warehouse = Warehouse(url, schema="personas", scale=4)
    warehouse.ensure_schema()  # the same table definition, created the same way
    warehouse.dispose()
    dsn = sa.engine.make_url(url).set(drivername="postgresql").render_as_string(False)
    columns = ", ".join(f'"{c}"' for c in ["refresh_id", *rows.columns])
    started = time.perf_counter()
    # The same CSV as the publish writes, whole, in one COPY: the yardstick.
    payload = io.BytesIO()
    write_copy_csv(rows.select(pl.lit("plain").alias("refresh_id"), *rows.columns), payload)
    with (
        psycopg.connect(dsn) as connection,
        connection.cursor() as cursor,
        cursor.copy(
            f"COPY personas.customer_segments_history ({columns}) FROM STDIN (FORMAT csv)"
        ) as copy,
    ):
        copy.write(payload.getbuffer())
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres", help="admin URL"
    )
    args = parser.parse_args()
    rows = customer_rows(args.rows)
    publish_times, plain_times = [], []
    for _ in range(args.repeat):
        for measure, times in ((time_publish, publish_times), (time_plain_copy, plain_times)):
            url, name = fresh_database(args.url)
            try:
                times.append(measure(url, rows))
            finally:
                drop_database(args.url, name)
    publish, plain = statistics.median(publish_times), statistics.median(plain_times)
    print(f"rows: {args.rows:,} customer_segments rows, {args.repeat} runs each (median)")
    print(f"personas publish (COPY, one transaction, pointer switch): {publish:.2f} s")
    print(f"plain psycopg COPY of the same rows:                     {plain:.2f} s")
    print(f"ratio plain / publish: {plain / publish:.2f}× (1.0 = as fast as plain COPY)")


if __name__ == "__main__":
    main()
