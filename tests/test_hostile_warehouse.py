"""One dirty row never blocks a warehouse, on DuckDB and on a live PostgreSQL.

A NUL character (which PostgreSQL text cannot hold), a date in year 0 (which no
warehouse stores) and an e-mail in a shifted row are quarantined; the quarantine
keeps them escaped and masked so that every warehouse accepts it; and the next
refresh publishes as usual.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from tests.conftest import invoke_without_prefect, write

GOOD = """customer_id,order_date,amount
A,2024-01-01,100
B,2024-01-02,50
C,2024-01-03,20
D,2024-01-04,10
"""
DIRTY = GOOD + "E\x00x,2024-01-05,5\nF,0000-01-01,5\nG,2024-01-06,an@example.vn\n"


def refresh(config: Path, url: str, as_of: str):
    return invoke_without_prefect(
        ["refresh", "--config", str(config), "--as-of", as_of],
        env={"PERSONAS_WAREHOUSE__URL": url},
    )


def test_dirty_rows_are_quarantined_storably_and_never_block_the_warehouse(
    warehouse_url: str, tmp_path: Path
) -> None:
    orders = write(tmp_path / "data" / "orders.csv", GOOD)
    config = write(
        tmp_path / "personas.toml",
        '[sources.orders]\npath = "data/orders.csv"\nmax_rejected_share = 0.5\n',
    )
    assert refresh(config, warehouse_url, "2024-06-01").exit_code == 0
    orders.write_text(DIRTY, encoding="utf-8")
    dirty = refresh(config, warehouse_url, "2024-06-02")
    assert dirty.exit_code == 0, dirty.output
    engine = sa.create_engine(warehouse_url)
    with engine.connect() as connection:
        quarantined = connection.exec_driver_sql(
            'SELECT row_number, key, "column", value FROM personas.quarantine ORDER BY row_number'
        ).all()
        customers = connection.exec_driver_sql(
            "SELECT count(*) FROM personas.customer_segments"
        ).scalar_one()
    assert [tuple(row) for row in quarantined] == [
        (5, "E\\x00x", "customer_id", "E\\x00x"),  # the NUL shown as \x00
        (6, "F", "order_date", "0000-01-01"),
        (7, "G", "amount", "[email]"),  # contact data masked
    ]
    assert customers == 4
    report = next((tmp_path / "reports").glob("20240602-*/quarantine.csv"))
    assert "an@example.vn" not in report.read_text(encoding="utf-8-sig")
    # the warehouse still takes the next refresh
    orders.write_text(GOOD, encoding="utf-8")
    assert refresh(config, warehouse_url, "2024-06-03").exit_code == 0
    engine.dispose()
