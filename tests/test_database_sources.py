"""Sources read from databases through SQLAlchemy: SQLite always, PostgreSQL on a live server."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from config.settings import SourceSettings
from flows.cli import app
from sources.extract import SourceError, read_source
from tests.conftest import read_view, write

ROWS = [
    {"CustomerCode": "00017", "InvoiceDate": "2024-01-01", "LineTotal": "100.50", "note": "Hà Nội"},
    {"CustomerCode": "00017", "InvoiceDate": "2024-02-01", "LineTotal": "20", "note": None},
    {"CustomerCode": "00018", "InvoiceDate": "2024-03-01", "LineTotal": "7.25", "note": "Đà Nẵng"},
]


def load_invoices(url: str) -> None:
    engine = sa.create_engine(url)
    metadata = sa.MetaData()
    invoices = sa.Table(
        "invoices",
        metadata,
        sa.Column("CustomerCode", sa.String),
        sa.Column("InvoiceDate", sa.String),
        sa.Column("LineTotal", sa.Numeric(12, 2)),
        sa.Column("note", sa.String),
    )
    with engine.begin() as connection:
        metadata.create_all(connection)
        connection.execute(invoices.insert(), ROWS)
    engine.dispose()


def mapped_source(url: str, **where: str) -> SourceSettings:
    return SourceSettings(
        url=url,
        columns={"customer_id": "CustomerCode", "order_date": "InvoiceDate", "amount": "LineTotal"},
        **where,
    )


def check_extracted(source: SourceSettings) -> None:
    frame = read_source("orders", source)
    assert frame["customer_id"].to_list() == ["00017", "00017", "00018"]
    assert frame["_row_number"].to_list() == [1, 2, 3]
    assert frame["note"].to_list() == ["Hà Nội", None, "Đà Nẵng"]
    assert [Decimal(v) for v in frame["amount"]] == [Decimal("100.5"), 20, Decimal("7.25")]


def test_a_sqlite_table_is_extracted_as_text_with_mapping(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    load_invoices(url)
    check_extracted(mapped_source(url, table="invoices"))
    check_extracted(mapped_source(url, query='select * from invoices order by "InvoiceDate"'))


def test_a_missing_table_is_a_clear_source_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    load_invoices(url)
    with pytest.raises(SourceError, match=r"sources\.orders: cannot read from the database"):
        read_source("orders", mapped_source(url, table="nope"))


@pytest.mark.postgres
def test_a_postgresql_table_is_extracted_on_a_live_server(postgres_url: str) -> None:
    load_invoices(postgres_url)
    check_extracted(mapped_source(postgres_url, table="public.invoices"))


@pytest.mark.postgres
def test_refresh_from_a_postgresql_source_into_duckdb(
    postgres_url: str, tmp_path: Path, runner: CliRunner
) -> None:
    load_invoices(postgres_url)
    config = write(
        tmp_path / "p.toml",
        '[sources.orders]\ntable = "invoices"\n'
        "[sources.orders.columns]\n"
        'customer_id = "CustomerCode"\norder_date = "InvoiceDate"\namount = "LineTotal"\n',
    )
    # the URL (a secret) comes from the environment, as the contract asks
    env = {"PERSONAS_SOURCES__ORDERS__URL": postgres_url}
    result = runner.invoke(
        app, ["refresh", "--config", str(config), "--as-of", "2024-06-01"], env=env
    )
    assert result.exit_code == 0, result.output
    rows = read_view(tmp_path, "select customer_id, revenue from personas.customer_segments")
    assert sorted(rows) == [("00017", Decimal("120.5")), ("00018", Decimal("7.25"))]
