"""The catalogue of bad inputs: each class of broken file or config, run through
`personas refresh` on top of a good refresh, with its exact outcome.

Every case ends in one of three ways: the bad rows are quarantined with the
right problem and the rest is published (exit 0); the run stops with a clear
one-line error (exit 1 for bad data, 2 for configuration) and the previous
refresh stays current; or the input is accepted as it is (valid but unusual).
Nothing is lost: rows in = rows accepted + rows quarantined, always.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from flows.cli import app
from schemas.cross_checks import mixed_currencies
from tests.conftest import invoke_without_prefect, read_view, write
from tests.test_input_formats import cp1258

ORDERS = """customer_id,order_id,order_date,product_id,quantity,unit_price,amount,currency,status
C1,O1,2024-01-05,P1,1,100,100,VND,completed
C1,O2,2024-02-05,P2,2,50,100,VND,completed
C2,O3,2024-01-10,P1,1,100,100,VND,completed
C2,O4,2024-03-10,P3,3,10,30,VND,completed
C3,O5,2024-02-01,P2,1,50,50,VND,completed
C3,O6,2024-02-02,P2,-1,50,-50,VND,completed
C4,O7,2024-04-01,P3,5,10,50,VND,completed
C4,O8,2024-04-02,P1,1,100,100,VND,refunded
"""
CUSTOMERS = """customer_id,name,industry,city,employee_count,age
C1,Công ty An Phát,Phần mềm,Hà Nội,120,
C2,Bình Minh JSC,Bán lẻ,TP HCM,40,
C3,Cửu Long Co,Phần mềm,Cần Thơ,15,
C4,Đông Á Ltd,Logistics,Đà Nẵng,300,
"""
CONTACTS = """contact_id,customer_id,title,is_decision_maker,age
K1,C1,Giám đốc,yes,45
K2,C2,Trưởng phòng,no,38
K3,C3,Giám đốc,yes,51
"""
PRODUCTS = """product_id,name,package,list_price
P1,Gói Vàng,Gold,100
P2,Gói Bạc,Silver,50
P3,Gói Đồng,Bronze,10
"""
LEADS = """lead_id,created_at,converted_customer_id,industry,city
L1,2024-01-01,C1,Phần mềm,Hà Nội
L2,2024-02-01,,Bán lẻ,Huế
"""
CONFIG = """[sources.orders]
path = "data/orders.csv"
{orders_extra}
[sources.customers]
path = "data/customers.csv"

[sources.contacts]
path = "data/contacts.csv"

[sources.products]
path = "data/products.csv"

[sources.leads]
path = "data/leads.csv"

# Inputs are what this catalogue is about; the published-table checks (Great
# Expectations, seconds per run) have their own tests in test_published_checks.py.
[quality]
expectations = false
{extra}
"""


def write_config(here: Path, orders_extra: str = "", extra: str = "") -> Path:
    return write(here / "personas.toml", CONFIG.format(orders_extra=orders_extra, extra=extra))


@pytest.fixture(scope="module")
def good_refresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the good sources and a warehouse with one good refresh."""
    here = tmp_path_factory.mktemp("good")
    for name, text in [
        ("orders", ORDERS),
        ("customers", CUSTOMERS),
        ("contacts", CONTACTS),
        ("products", PRODUCTS),
        ("leads", LEADS),
    ]:
        write(here / "data" / f"{name}.csv", text)
    config = write_config(here)
    result = invoke_without_prefect(["refresh", "--config", str(config), "--as-of", "2024-05-01"])
    assert result.exit_code == 0, result.output
    return here


def current_refresh(here: Path) -> list[tuple]:
    return read_view(here, "select refresh_id, as_of from personas.refresh_runs")


@dataclass(frozen=True)
class Case:
    """One class of bad input and what must come of it."""

    name: str
    change: Callable[[Path], None]  # alters the copied folder (its data or config)
    exit_code: int
    message: str = ""  # in the one error line (failures) or in the output
    quarantined: list[tuple] = field(default_factory=list)  # (source, row, column, problem, action)


def replace_in(name: str, old: str, new: str) -> Callable[[Path], None]:
    def change(here: Path) -> None:
        path = here / "data" / f"{name}.csv"
        text = path.read_text(encoding="utf-8")
        assert old in text, old
        path.write_text(text.replace(old, new), encoding="utf-8")

    return change


def append_to(name: str, line: str) -> Callable[[Path], None]:
    def change(here: Path) -> None:
        with (here / "data" / f"{name}.csv").open("a", encoding="utf-8") as file:
            file.write(line)

    return change


def with_lenient_threshold(
    *changes: Callable[[Path], None], extra: str = "", source_settings: dict | None = None
) -> Callable:
    """Apply `changes` and let a source reject up to half its rows (tiny test files)."""

    def change(here: Path) -> None:
        for each in changes:
            each(here)
        config = here / "personas.toml"
        text = config.read_text(encoding="utf-8")
        for source in ("orders", "customers", "contacts", "products", "leads"):
            more = (source_settings or {}).get(source, "")
            text = text.replace(
                f'path = "data/{source}.csv"\n',
                f'path = "data/{source}.csv"\nmax_rejected_share = 0.5\n{more}',
            )
        config.write_text(text + extra, encoding="utf-8")

    return change


def add_column(here: Path, name: str) -> None:
    path = here / "data" / f"{name}.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines = [lines[0] + ",note"] + [line + ",ghi chú" for line in lines[1:]]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def add_bom(here: Path, name: str) -> None:
    path = here / "data" / f"{name}.csv"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())


def reencode(here: Path, name: str) -> None:
    """Save a source as a Vietnamese Windows export (windows-1258)."""
    path = here / "data" / f"{name}.csv"
    path.write_bytes(cp1258(path.read_text(encoding="utf-8")))


def rewrite(here: Path, name: str, edit: Callable[[str], str]) -> None:
    path = here / "data" / f"{name}.csv"
    path.write_text(edit(path.read_text(encoding="utf-8")), encoding="utf-8")


def without_order_ids(text: str) -> str:
    """The orders file without its order_id column: no line key is left."""
    rows = [line.split(",") for line in text.splitlines()]
    return "\n".join(",".join(row[:1] + row[2:]) for row in rows) + "\n"


def set_config(text: str) -> Callable[[Path], None]:
    def change(here: Path) -> None:
        (here / "personas.toml").write_text(text, encoding="utf-8")

    return change


def write_file(name: str, content: bytes) -> Callable[[Path], None]:
    def change(here: Path) -> None:
        (here / "data" / f"{name}.csv").write_bytes(content)

    return change


def lenient(
    name: str, *changes, problems: list[tuple], extra: str = "", **source_settings: str
) -> Case:
    """A case that publishes: at most half of a source's rows may be rejected."""
    change = with_lenient_threshold(*changes, extra=extra, source_settings=source_settings)
    return Case(name, change, 0, quarantined=problems)


R, CL = "row rejected", "value cleared"
CASES = [
    Case(
        "missing required column",
        replace_in("orders", "customer_id,order_id", "client,order_id"),
        1,
        "orders file: customer_id: missing required column",
    ),
    lenient("extra columns are ignored", lambda here: add_column(here, "orders"), problems=[]),
    lenient(
        "wrong type in an amount",
        replace_in("orders", "C2,O4,2024-03-10,P3,3,10,30", "C2,O4,2024-03-10,P3,3,10,thirty"),
        problems=[("orders", 4, "amount", "not a decimal amount with at most 4 decimal places", R)],
    ),
    lenient(
        "null key",
        replace_in("orders", "C4,O7", ",O7"),
        problems=[("orders", 7, "customer_id", "missing value in a required column", R)],
    ),
    lenient(
        "duplicate order line (its line key, order_id with product_id, repeats)",
        append_to("orders", "C1,O1,2024-01-05,P1,1,100,100,VND,completed\n"),
        problems=[("orders", 9, None, "duplicate line key (order_id, product_id) of row 1", R)],
    ),
    lenient(
        "identical lines without a line key are two purchases, kept",
        lambda here: rewrite(here, "orders", without_order_ids),
        append_to("orders", "C1,2024-01-05,P1,1,100,100,VND,completed\n"),
        problems=[],
    ),
    lenient(
        "identical lines rejected where the source is known to be exported twice",
        lambda here: rewrite(here, "orders", without_order_ids),
        append_to("orders", "C1,2024-01-05,P1,1,100,100,VND,completed\n"),
        problems=[
            (
                "orders",
                9,
                None,
                "identical to order line row 1 (sources.orders.reject_identical_lines)",
                R,
            )
        ],
        orders="reject_identical_lines = true\n",
    ),
    lenient(
        "a configured line key repeats",
        append_to("orders", "C1,O1,2024-01-06,P1,1,100,100,VND,completed\n"),
        problems=[("orders", 9, None, "duplicate line key (order_id) of row 1", R)],
        orders='line_key = ["order_id"]\n',
    ),
    Case(
        "a line key naming a column the source lacks",
        lambda here: write_config(here, orders_extra='line_key = ["order_id", "LineNo"]\n'),
        2,
        "sources.orders.line_key: column 'LineNo' not found in orders.csv",
    ),
    lenient(
        "negative quantity on a sale",
        replace_in("orders", "C4,O7,2024-04-01,P3,5,10,50", "C4,O7,2024-04-01,P3,-5,10,50"),
        problems=[
            (
                "orders",
                7,
                "quantity",
                "negative quantity on a line whose amount is positive (not a refund)",
                R,
            )
        ],
    ),
    lenient(
        "zero price",
        replace_in("orders", "C4,O7,2024-04-01,P3,5,10,50", "C4,O7,2024-04-01,P3,5,0,50"),
        problems=[("orders", 7, "unit_price", "unit price is zero or negative", R)],
    ),
    lenient(
        "negative price",
        replace_in("orders", "C4,O7,2024-04-01,P3,5,10,50", "C4,O7,2024-04-01,P3,5,-10,50"),
        problems=[("orders", 7, "unit_price", "unit price is zero or negative", R)],
    ),
    lenient(
        "absurd amount",
        replace_in(
            "orders", "C4,O7,2024-04-01,P3,5,10,50,", "C4,O7,2024-04-01,P3,5,10,9000000000000000,"
        ),
        problems=[
            (
                "orders",
                7,
                "amount",
                "amount is implausibly large (>= money.max_line_amount 1,000,000,000,000,000)",
                R,
            )
        ],
    ),
    lenient(
        "unparseable date",
        replace_in("orders", "2024-03-10", "2024-02-30"),
        problems=[("orders", 4, "order_date", "not a date in format ISO 8601", R)],
    ),
    lenient(
        "mixed date formats",
        replace_in("orders", "2024-04-02", "02/04/2024"),
        problems=[("orders", 8, "order_date", "not a date in format ISO 8601", R)],
    ),
    Case("empty file", write_file("orders", b""), 2, "orders: "),
    Case(
        "header-only file",
        write_file("orders", ORDERS.splitlines()[0].encode() + b"\n"),
        1,
        "no valid order line",
    ),
    lenient(
        "thousands separators without the setting",
        replace_in("orders", "C4,O7,2024-04-01,P3,5,10,50,", 'C4,O7,2024-04-01,P3,5,10,"1,050",'),
        problems=[("orders", 7, "amount", "not a decimal amount with at most 4 decimal places", R)],
    ),
    Case(
        "mixed currencies",
        replace_in(
            "orders", "C2,O3,2024-01-10,P1,1,100,100,VND", "C2,O3,2024-01-10,P1,1,100,100,USD"
        ),
        1,
        "currency differs from money.currency = 'VND' 'USD'",
    ),
    Case(
        "unknown package name",
        with_lenient_threshold(
            replace_in("products", "P3,Gói Đồng,Bronze", "P3,Gói Đồng,Platinum"),
            extra='\n[tiers]\nrule = "package"\n',
        ),
        1,
        "package Platinum is not in [tiers.packages]",
    ),
    lenient(
        "age out of range",
        replace_in("contacts", "K2,C2,Trưởng phòng,no,38", "K2,C2,Trưởng phòng,no,230"),
        problems=[("contacts", 2, "age", "age outside 0-120", CL)],
    ),
    lenient(
        "orphan order",
        append_to("orders", "C9,O9,2024-04-03,P1,1,100,100,VND,completed\n"),
        problems=[("orders", 9, "customer_id", "customer not found in customers", R)],
    ),
    lenient(
        "contact of an unknown customer",
        append_to("contacts", "K4,C9,Giám đốc,yes,40\n"),
        problems=[("contacts", 4, "customer_id", "customer not found in customers", R)],
    ),
    lenient(
        "lead converted to an unknown customer",
        replace_in("leads", "L1,2024-01-01,C1", "L1,2024-01-01,C9"),
        problems=[("leads", 1, "converted_customer_id", "customer not found in customers", CL)],
    ),
    lenient(
        "duplicate customer key",
        append_to("customers", "C1,Công ty An Phát (bản sao),Phần mềm,Hà Nội,120,\n"),
        problems=[("customers", 5, "customer_id", "duplicate key (the first, row 1, is kept)", R)],
    ),
    lenient(
        "SQL-looking text is data",
        replace_in(
            "customers", "Bình Minh JSC", "x'); DROP TABLE personas.customer_segments_history; --"
        ),
        problems=[],
    ),
    lenient("byte order mark", lambda here: add_bom(here, "orders"), problems=[]),
    Case(
        "non-UTF-8 bytes",
        lambda here: reencode(here, "customers"),
        2,
        "is not valid utf-8 (byte 0x",
    ),
    lenient(
        "a Windows-1258 export with its encoding set",
        lambda here: reencode(here, "customers"),
        problems=[],
        customers='encoding = "windows-1258"\n',
    ),
    Case(
        "wrong delimiter",
        lambda here: rewrite(here, "orders", lambda text: text.replace(",", ";")),
        2,
        "has one column 'customer_id;order_id;order_date;product_id;quantity;unit_price;"
        "amount;currency;status': is the delimiter ';'? set sources.orders.delimiter = \";\"",
    ),
    Case(
        "unbalanced quotes",
        replace_in("customers", "C2,Bình Minh JSC", 'C2,"Bình Minh JSC'),
        2,
        "has an unbalanced quote",
    ),
    lenient(
        "embedded newline in a quoted value",
        replace_in("customers", "C2,Bình Minh JSC", 'C2,"Bình Minh\nJSC"'),
        problems=[],
    ),
    lenient(
        "thousands separators with the setting",
        replace_in("orders", "C4,O7,2024-04-01,P3,5,10,50,", 'C4,O7,2024-04-01,P3,5,10,"1.050",'),
        problems=[],
        orders='thousands_separator = "."\ndecimal_separator = ","\n',
    ),
    lenient(
        "null markers with the setting",
        replace_in(
            "customers", "C3,Cửu Long Co,Phần mềm,Cần Thơ,15,", "C3,Cửu Long Co,N/A,Cần Thơ,N/A,"
        ),
        problems=[],
        customers='null_values = ["N/A"]\n',
    ),
    lenient(
        "spreadsheet formula in a rejected row",
        replace_in(
            "orders", "C4,O7,2024-04-01,P3,5,10,50", "=cmd|' /C calc'!A0,O7,2024-04-01,P3,5,10,abc"
        ),
        problems=[("orders", 7, "amount", "not a decimal amount with at most 4 decimal places", R)],
    ),
    Case(
        "source file does not exist",
        lambda here: (here / "data" / "orders.csv").unlink(),
        2,
        "sources.orders.path: file not found",
    ),
    Case("invalid TOML", set_config("[sources.orders\npath = 1\n"), 2, "invalid TOML"),
    Case(
        "unknown setting",
        lambda here: write_config(here, extra='\n[tiers]\nrule = "biggest"\n'),
        2,
        "setting tiers.rule",
    ),
    Case(
        "injection in the schema name",
        lambda here: write_config(
            here, extra='\n[warehouse]\nschema = "x; DROP SCHEMA personas"\n'
        ),
        2,
        "is not a plain SQL identifier",
    ),
    # --- hostile and dirty input (each a user's revenue, warehouse or secret at risk) ---
    lenient(
        "full-width digits in an amount",
        replace_in("orders", "C2,O4,2024-03-10,P3,3,10,30", "C2,O4,2024-03-10,P3,3,10,３０"),
        problems=[("orders", 4, "amount", "not a decimal amount with at most 4 decimal places", R)],
    ),
    lenient(
        "an amount too long to hold exactly",
        replace_in(
            "orders", "C2,O4,2024-03-10,P3,3,10,30", "C2,O4,2024-03-10,P3,3,10,1" + "0" * 39
        ),
        problems=[
            (
                "orders",
                4,
                "amount",
                "too many digits to hold exactly (at most 34 before the decimal point)",
                R,
            )
        ],
    ),
    lenient(
        "a computed amount past money.max_line_amount",
        replace_in(
            "orders", "C2,O4,2024-03-10,P3,3,10,30", "C2,O4,2024-03-10,P3,1000000000,10000000,"
        ),
        problems=[
            (
                "orders",
                4,
                None,
                "computed amount (quantity × unit_price − discount) is implausibly large "
                "(>= money.max_line_amount 1,000,000,000,000,000)",
                R,
            )
        ],
    ),
    lenient(
        "a NUL character in a customer id",
        replace_in("orders", "C4,O7,", "C\x004,O7,"),
        problems=[
            (
                "orders",
                7,
                "customer_id",
                "contains a NUL character, which a warehouse cannot store",
                R,
            )
        ],
    ),
    lenient(
        "an order date in year 0",
        replace_in("orders", "C4,O7,2024-04-01", "C4,O7,0000-01-01"),
        problems=[
            ("orders", 7, "order_date", "date outside the years 1-9999 a warehouse can store", R)
        ],
    ),
    lenient(
        "an e-mail address in a shifted row",
        replace_in(
            "orders", "C2,O4,2024-03-10,P3,3,10,30", "C2,O4,2024-03-10,P3,3,10,an@example.vn"
        ),
        problems=[("orders", 4, "amount", "not a decimal amount with at most 4 decimal places", R)],
    ),
    lenient(
        "keys that differ only by a space or a no-break space",
        append_to("customers", "C1 ,Bản sao,Phần mềm,Hà Nội,120,\n"),
        append_to("customers", "C1\u00a0,Bản sao 2,Phần mềm,Hà Nội,120,\n"),
        problems=[
            ("customers", 5, "customer_id", "duplicate key (the first, row 1, is kept)", R),
            ("customers", 6, "customer_id", "duplicate key (the first, row 1, is kept)", R),
        ],
    ),
    lenient(
        "classic-Mac CR line endings",
        lambda here: rewrite(here, "orders", lambda text: text.replace("\n", "\r")),
        problems=[],
    ),
    lenient(
        "a Vietnamese cancelled status counts for nothing",
        replace_in(
            "orders",
            "C2,O4,2024-03-10,P3,3,10,30,VND,completed",
            "C2,O4,2024-03-10,P3,3,10,30,VND,Đã hủy",
        ),
        problems=[],
    ),
    lenient(
        "an unknown status is never a sale",
        replace_in(
            "orders",
            "C2,O4,2024-03-10,P3,3,10,30,VND,completed",
            "C2,O4,2024-03-10,P3,3,10,30,VND,pending",
        ),
        problems=[
            (
                "orders",
                4,
                "status",
                "unknown status: not in [statuses] sale, cancelled or refunded (add it to the "
                "list it belongs to)",
                R,
            )
        ],
    ),
    Case(
        "refunds exceeding sales",
        lambda here: write(
            here / "data" / "orders.csv",
            "customer_id,order_date,amount,status\nC1,2024-01-05,100,completed\n"
            "C1,2024-02-05,300,refunded\n",
        ),
        1,
        "total revenue as of 2024-06-01 is -200",
    ),
    Case(
        "a column twice in the header",
        lambda here: rewrite(
            here, "orders", lambda text: text.replace("amount,currency", "amount,amount", 1)
        ),
        2,
        "has the column 'amount' twice in its header",
    ),
    Case(
        "a terminal escape sequence in a header name",
        lambda here: (
            rewrite(here, "orders", lambda text: text.replace("status", "st\x1b[2Jatus", 1)),
            write_config(here, orders_extra='[sources.orders.columns]\nstatus = "status"\n'),
        ),
        2,
        "sources.orders.columns.status: column 'status' not found",
    ),
    Case(
        "a malformed webhook URL",
        lambda here: write_config(here, extra='\n[notify]\nwebhook_url = "http://hooks:99999/x"\n'),
        2,
        "setting notify.webhook_url: not a valid URL",
    ),
    Case(
        "a warehouse URL with a bad port",
        lambda here: write_config(here, extra='\n[warehouse]\nurl = "postgresql://u@db:port/x"\n'),
        2,
        "setting warehouse.url: not a valid SQLAlchemy URL",
    ),
    Case(
        "a lock timeout no warehouse can honour",
        lambda here: write_config(here, extra="\n[warehouse]\nlock_timeout_seconds = inf\n"),
        2,
        "setting warehouse.lock_timeout_seconds",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input_gets_its_exact_outcome_and_loses_nothing(
    case: Case, good_refresh: Path, tmp_path: Path, runner: CliRunner
) -> None:
    here = tmp_path / "run"
    shutil.copytree(good_refresh, here)
    before = current_refresh(here)
    case.change(here)
    result = runner.invoke(
        app, ["refresh", "--config", str(here / "personas.toml"), "--as-of", "2024-06-01"]
    )
    assert result.exit_code == case.exit_code, result.output
    assert "Traceback" not in result.output
    assert "\x1b" not in result.output  # no raw terminal escape from the data
    if case.exit_code:
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1, result.stderr
        assert case.message in errors[0]
        assert current_refresh(here) == before  # the previous refresh stays current
        return
    (run,) = read_view(
        here, "select as_of, rows_in, rows_accepted, rows_quarantined from personas.refresh_runs"
    )
    assert str(run[0]) == "2024-06-01"  # the new refresh is current
    assert run[1] == run[2] + run[3]  # nothing lost
    quarantined = read_view(
        here,
        'select source, row_number, "column", problem, action from personas.quarantine '
        "order by source, row_number",
    )
    assert quarantined == case.quarantined
    assert run[3] == len({(q[0], q[1]) for q in quarantined if q[4] == R})


def test_lines_in_another_currency_are_found_by_their_code_trimmed_and_upper_cased() -> None:
    orders = pl.LazyFrame(
        {
            "_row_number": [1, 2, 3, 4, 5, 6, 7],
            "currency": [" vnd", "VND", "usd", None, "VND ", "", "Usd"],
        }
    )
    found = mixed_currencies(orders, currency="vnd")
    assert found.select("row_number", "column", "value").rows() == [
        (3, "currency", "usd"),
        (6, "currency", ""),
        (7, "currency", "Usd"),
    ]
    assert set(found["problem"]) == {"currency differs from money.currency = 'vnd'"}
    assert mixed_currencies(orders.filter(pl.col("_row_number") <= 2), currency="VND").is_empty()
