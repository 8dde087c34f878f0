"""Contact data never reaches outputs or reports in clear text.

Unit tests of the hashing and masking, then a refresh whose sources are full of
e-mail addresses and phone numbers: none appears in any warehouse table, the
quarantine CSV or the Data Docs, while joins on an e-mail customer key still work.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from flows.cli import app
from tests.conftest import write
from transforms.privacy import is_pii_name, keyed_hash, protect_pii

KEY = b"test-key"


def test_contact_columns_are_hashed_keys_hashed_when_emails_and_text_masked() -> None:
    frame = pl.DataFrame(
        {
            "customer_id": ["an@example.vn", "00017", None],
            "Email": ["an@example.vn", "binh@example.vn", None],
            "so_dien_thoai": ["0912 345 678", "0912 345 678", "+84 28 3823 4567"],
            "text": ["gọi 0912.345.678 hoặc an@example.vn", "không có", None],
        }
    )
    out = protect_pii(frame, key=KEY, id_columns=["customer_id"], text_columns=["text"])
    hashed = keyed_hash("an@example.vn", KEY)
    assert out["customer_id"].to_list() == [hashed, "00017", None]
    assert out["Email"].to_list() == [hashed, keyed_hash("binh@example.vn", KEY), None]
    # one key per contact, in E.164: separators and letter case do not make another person
    assert out["so_dien_thoai"].to_list() == [keyed_hash("+84912345678", KEY)] * 2 + [
        keyed_hash("+842838234567", KEY)
    ]
    assert out["text"].to_list() == ["gọi [phone] hoặc [email]", "không có", None]
    assert hashed.startswith("pii:") and len(hashed) == 20
    assert keyed_hash("an@example.vn", b"other key") != hashed


def test_contact_keys_are_one_per_person_and_phone_like_ids_are_hashed() -> None:
    frame = pl.DataFrame(
        {
            "customer_id": ["An@Example.com", "an@example.com ", "0912.345.678", "00017",
                            "100234567", "0000012345"],
        }
    )  # fmt: skip
    out = protect_pii(frame, key=KEY, id_columns=["customer_id"], text_columns=[])
    ids = out["customer_id"].to_list()
    assert ids[0] == ids[1] == keyed_hash("an@example.com", KEY)
    assert ids[2] == keyed_hash("+84912345678", KEY)
    assert ids[3:] == ["00017", "100234567", "0000012345"]  # codes, not contacts
    kept = protect_pii(
        frame, key=KEY, id_columns=["customer_id"], text_columns=[], hash_contact_ids=False
    )
    assert kept["customer_id"].to_list() == frame["customer_id"].to_list()


# Key values and what they become: contacts hashed in their one form, codes kept.
KEYS = {
    "An@Example.com": keyed_hash("an@example.com", KEY),
    "an@example.com ": keyed_hash("an@example.com", KEY),
    "0912.345.678": keyed_hash("+84912345678", KEY),
    "+84 912 345 678": keyed_hash("+84912345678", KEY),
    "00017": "00017",
    "100234567": "100234567",
    "0000012345": "0000012345",
    "C-0912": "C-0912",
    None: None,
}


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(list(KEYS)), min_size=1, max_size=40), st.integers(1, 5))
def test_keys_are_hashed_alike_in_whatever_batches_their_rows_pass(
    keys: list[str | None], rows_per_batch: int
) -> None:
    frame = pl.DataFrame({"customer_id": keys, "n": range(len(keys))}, strict=False)
    expected = [KEYS[key] for key in keys]
    whole = protect_pii(frame, key=KEY, id_columns=["customer_id"], text_columns=[])
    assert whole["customer_id"].to_list() == expected
    with pl.Config(streaming_chunk_size=rows_per_batch):
        streamed = protect_pii(
            frame.lazy(), key=KEY, id_columns=["customer_id"], text_columns=[]
        ).collect(engine="streaming")
    assert streamed["customer_id"].to_list() == expected
    assert streamed["n"].to_list() == list(range(len(keys)))


def test_contact_data_in_a_shifted_row_is_masked_in_the_quarantine() -> None:
    from transforms.privacy import mask_contact_data

    values = pl.DataFrame({"value": ["an@example.vn", "0912 345 678", "12.5", "0000012345"]})
    masked = values.select(mask_contact_data(pl.col("value")))["value"].to_list()
    assert masked == ["[email]", "[phone]", "12.5", "0000012345"]


def test_contact_column_names_are_recognised() -> None:
    named = ["email", "E-mail", "contact_email", "phone", "Mobile", "tel", "SĐT", "so_dien_thoai"]
    assert all(is_pii_name(name) for name in named)
    assert not any(is_pii_name(name) for name in ["title", "hotel", "city", "telco_segment"])


ORDERS = """customer_id,order_id,order_date,amount
an@example.vn,A,2024-01-01,100
Binh@Example.vn,B,2024-02-01,50
binh@example.vn,C,2024-02-03,abc
0912 345 678,D,2024-02-04,binh@example.vn
"""
CUSTOMERS = """customer_id,name,industry,email,phone
an@example.vn,Công ty An,Phần mềm,an@example.vn,0912 345 678
binh@example.vn,Bình (binh@example.vn),Bán lẻ,binh@example.vn,+84 28 3823 4567
"""
FEEDBACK = """customer_id,created_at,goal,text
an@example.vn,2024-01-02,tăng trưởng,Gọi tôi: 0912 345 678 hoặc an@example.vn
"""
CLEAR_TEXT = ("@example.vn", "@Example.vn", "0912 345 678", "3823 4567")


def test_a_refresh_never_publishes_or_reports_contact_data(
    runner: CliRunner, tmp_path: Path
) -> None:
    write(tmp_path / "data" / "orders.csv", ORDERS)
    write(tmp_path / "data" / "customers.csv", CUSTOMERS)
    write(tmp_path / "data" / "feedback.csv", FEEDBACK)
    config = write(
        tmp_path / "personas.toml",
        '[sources.orders]\npath = "data/orders.csv"\nmax_rejected_share = 0.6\n'
        '[sources.customers]\npath = "data/customers.csv"\nextra_columns = ["email", "phone"]\n'
        '[sources.feedback]\npath = "data/feedback.csv"\n',
    )
    result = runner.invoke(app, ["refresh", "--config", str(config), "--as-of", "2024-06-01"])
    assert result.exit_code == 0, result.output
    assert not any(text in result.output for text in CLEAR_TEXT)
    database = tmp_path / "warehouse" / "warehouse.duckdb"
    with duckdb.connect(str(database), read_only=True) as connection:
        tables = [
            name
            for (name,) in connection.sql(
                "select table_name from information_schema.tables where table_schema = 'personas'"
            ).fetchall()
        ]
        dump = "\n".join(
            str(connection.sql(f'select * from personas."{name}"').fetchall()) for name in tables
        )
        customers = connection.sql(
            "select customer_id, revenue from personas.customer_segments order by revenue"
        ).fetchall()
    assert not any(text in dump for text in CLEAR_TEXT)
    # the e-mail key is hashed the same way in orders and customers: the join held
    assert [(c[:4], float(r)) for c, r in customers] == [("pii:", 50.0), ("pii:", 100.0)]
    reports = "\n".join(
        path.read_text(encoding="utf-8", errors="replace")
        for path in (tmp_path / "reports").rglob("*")
        if path.is_file() and path.suffix in (".csv", ".html", ".json")
    )
    assert "quarantine" in "".join(str(p) for p in (tmp_path / "reports").rglob("*.csv"))
    assert not any(text in reports for text in CLEAR_TEXT)
    key_file = tmp_path / ".personas_pii_key"
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
