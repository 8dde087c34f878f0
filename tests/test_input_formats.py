"""Input files as exported in the wild: encodings, BOMs, null markers, separators, bad CSV shapes.

Each test writes a small file, extracts it with `extract_source` and checks the exact text
values, row numbers or the one-line `SourceError`.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa

from config.settings import SourceSettings
from sources import text_formats
from sources.extract import SourceError, extract_source, read_source

HANOI = "Hà Nội"  # precomposed (NFC), as typed in UTF-8 sources and in the config


def cp1258(text: str) -> bytes:
    """`text` as Windows writes it in windows-1258: tones as combining marks where needed.

    Python's cp1258 codec has no "ộ": Windows writes "ô" followed by a combining dot below.
    """
    out = bytearray()
    for char in unicodedata.normalize("NFC", text):
        try:
            out += char.encode("cp1258")
            continue
        except UnicodeEncodeError:
            pass
        base, *marks = unicodedata.normalize("NFD", char)
        for mark in marks:  # fold the one mark cp1258 has precomposed with the base (ô, ư, ă …)
            composed = unicodedata.normalize("NFC", base + mark)
            if len(composed) == 1 and _encodes(composed, "cp1258"):
                base = composed
                marks.remove(mark)
                break
        out += (base + "".join(marks)).encode("cp1258")
    return bytes(out)


def _encodes(text: str, codec: str) -> bool:
    try:
        text.encode(codec)
    except UnicodeEncodeError:
        return False
    return True


def write(tmp_path: Path, content: bytes | str, name: str = "orders.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def extract(path: Path, source: str = "orders", **settings: object) -> pl.DataFrame:
    return read_source(source, SourceSettings(path=path, **settings))


def error(path: Path, source: str = "orders", **settings: object) -> str:
    with pytest.raises(SourceError) as failure:
        extract(path, source, **settings)
    message = str(failure.value)
    assert "\n" not in message
    return message


# --- encodings ---------------------------------------------------------------------------------


def test_cp1258_helper_writes_tones_as_windows_does() -> None:
    assert cp1258(HANOI) == b"H\xe0 N\xf4\xf2i"  # ô + combining dot below


@pytest.mark.parametrize(
    "header", ["customer_id,order_date,amount", '"customer_id",order_date,amount']
)
def test_a_utf8_bom_does_not_end_up_in_the_first_column_name(tmp_path: Path, header: str) -> None:
    path = write(tmp_path, f"\ufeff{header}\n00017,2024-01-01,100\n".encode())
    frame = extract(path)
    assert frame.columns == ["_row_number", "customer_id", "order_date", "amount"]
    assert frame["customer_id"].to_list() == ["00017"]


def test_a_utf8_bom_header_maps_through_the_column_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "\ufeffCustomerCode,InvoiceDate,LineTotal\n00017,2024-01-01,100\n")
    frame = extract(
        path,
        columns={"customer_id": "CustomerCode", "order_date": "InvoiceDate", "amount": "LineTotal"},
    )
    assert frame.select("customer_id", "order_date", "amount").rows() == [
        ("00017", "2024-01-01", "100")
    ]


VIETNAMESE = (
    "Mã KH,Ngày,Thành tiền,Thành phố\n"
    "00017,2024-01-01,100,Hà Nội\n"
    "00018,2024-01-02,200,Đà Nẵng\n"
    "00019,2024-01-03,300,Thành phố Hồ Chí Minh\n"
)
VIETNAMESE_MAPPING = {"customer_id": "Mã KH", "order_date": "Ngày", "amount": "Thành tiền"}


def test_windows_1258_is_decoded_and_composed_to_nfc(tmp_path: Path) -> None:
    path = write(tmp_path, cp1258(VIETNAMESE))
    frame = extract(
        path,
        encoding="windows-1258",
        columns=VIETNAMESE_MAPPING,
        extra_columns=("Thành phố",),
    )
    assert frame["customer_id"].to_list() == ["00017", "00018", "00019"]
    assert frame["Thành phố"].to_list() == [HANOI, "Đà Nẵng", "Thành phố Hồ Chí Minh"]
    assert frame["Thành phố"][0] == unicodedata.normalize("NFC", HANOI)
    assert frame["_row_number"].to_list() == [1, 2, 3]
    utf8 = extract(
        write(tmp_path, VIETNAMESE, "utf8.csv"),
        columns=VIETNAMESE_MAPPING,
        extra_columns=("Thành phố",),
    )
    assert frame.equals(utf8)


def test_windows_1258_decoding_is_correct_across_chunk_boundaries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 3-byte chunks split "ô" + its combining tone and every line in odd places.
    monkeypatch.setattr(text_formats, "CHUNK_BYTES", 3)
    path = write(tmp_path, cp1258(VIETNAMESE))
    frame = extract(
        path, encoding="cp1258", columns=VIETNAMESE_MAPPING, extra_columns=("Thành phố",)
    )
    assert frame["Thành phố"].to_list() == [HANOI, "Đà Nẵng", "Thành phố Hồ Chí Minh"]


def test_a_windows_1258_file_read_as_utf8_names_the_byte_line_and_setting(tmp_path: Path) -> None:
    path = write(tmp_path, cp1258(VIETNAMESE))
    # The first byte that is not UTF-8 is the combining tilde (0xDE) of "ã" in "Mã KH":
    # windows-1258 has no precomposed "ã" (0xE3 is "ă").
    assert error(path, columns=VIETNAMESE_MAPPING) == (
        f"sources.orders: {path} is not valid utf-8 (byte 0xDE at line 1, byte offset 2); "
        f'if it is a Windows export set sources.orders.encoding = "windows-1258" (Vietnamese) '
        f'or "cp1252"'
    )


def test_a_bad_byte_in_the_rows_is_located_by_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        b"customer_id,order_date,city\nC1,2024-01-01,Hue\nC2,2024-01-02,H\xe0 N\xf4\xf2i\n",
    )
    # offset 61 = len("customer_id,order_date,city\n" "C1,2024-01-01,Hue\n" "C2,2024-01-02,H")
    assert error(path) == (
        f"sources.orders: {path} is not valid utf-8 (byte 0xE0 at line 3, byte offset 61); "
        f'if it is a Windows export set sources.orders.encoding = "windows-1258" (Vietnamese) '
        f'or "cp1252"'
    )


def test_a_bad_byte_beyond_the_first_chunk_is_found_by_the_parse_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(text_formats, "CHUNK_BYTES", 16)
    rows = "".join(f"C{i},2024-01-01,Hue\n" for i in range(20))
    path = write(
        tmp_path, b"customer_id,order_date,city\n" + rows.encode() + b"C9,2024-01-01,\xe0\n"
    )
    offset = len("customer_id,order_date,city\n" + rows + "C9,2024-01-01,")
    assert error(path).startswith(
        f"sources.orders: {path} is not valid utf-8 (byte 0xE0 at line 22, byte offset {offset}); "
    )


def test_utf8_split_across_chunks_is_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(text_formats, "CHUNK_BYTES", 5)
    frame = extract(write(tmp_path, VIETNAMESE), columns=VIETNAMESE_MAPPING)
    assert frame["customer_id"].to_list() == ["00017", "00018", "00019"]


def test_decomposed_utf8_is_composed_to_nfc(tmp_path: Path) -> None:
    path = write(tmp_path, unicodedata.normalize("NFD", VIETNAMESE))
    frame = extract(path, columns=VIETNAMESE_MAPPING, extra_columns=("Thành phố",))
    assert frame["Thành phố"].to_list() == [HANOI, "Đà Nẵng", "Thành phố Hồ Chí Minh"]


@pytest.mark.parametrize("encoding", ["no-such-codec", "base64"])
def test_an_unknown_encoding_names_the_setting(tmp_path: Path, encoding: str) -> None:
    path = write(tmp_path, "customer_id,order_date\nC1,2024-01-01\n")
    assert error(path, encoding=encoding) == (
        f"sources.orders.encoding: unknown encoding {encoding!r} (use a Python codec name such "
        f'as "utf-8", "windows-1258", "cp1252" or "latin-1")'
    )


@pytest.mark.parametrize("encoding", ["cp1252", "latin-1"])
def test_western_european_encodings(tmp_path: Path, encoding: str) -> None:
    text = "customer_id,order_date,city\nC1,2024-01-01,Zürich\nC2,2024-01-02,Besançon\n"
    frame = extract(
        write(tmp_path, text.encode(encoding)), encoding=encoding, extra_columns=("city",)
    )
    assert frame["city"].to_list() == ["Zürich", "Besançon"]


def test_cp1252_euro_sign(tmp_path: Path) -> None:
    path = write(tmp_path, "customer_id,order_date,note\nC1,2024-01-01,5 €\n".encode("cp1252"))
    assert extract(path, encoding="cp1252")["note"].to_list() == ["5 €"]


def test_a_byte_the_configured_encoding_lacks_names_the_setting(tmp_path: Path) -> None:
    path = write(tmp_path, b"customer_id,order_date\nC1,2024-01-01\nC\x81,2024-01-02\n")
    assert error(path, encoding="cp1252") == (  # offset 38: after the 37 bytes of lines 1-2 and "C"
        f"sources.orders: {path} is not valid cp1252 (byte 0x81 at line 3, byte offset 38); "
        f'set sources.orders.encoding to the encoding the file was saved in (e.g. "utf-8", '
        f'"windows-1258", "cp1252")'
    )


def test_a_utf8_bom_with_another_encoding_configured(tmp_path: Path) -> None:
    path = write(tmp_path, "\ufeffcustomer_id,order_date\nC1,2024-01-01\n".encode())
    assert error(path, encoding="cp1252") == (
        f"sources.orders: {path} starts with a UTF-8 byte order mark but "
        f'sources.orders.encoding = "cp1252"; set sources.orders.encoding = "utf-8"'
    )


def test_utf16_is_read_when_configured_and_named_when_not(tmp_path: Path) -> None:
    text = f"customer_id\torder_date\tcity\nC1\t2024-01-01\t{HANOI}\n"
    path = write(tmp_path, text.encode("utf-16"))  # with a BOM, as Excel's "Unicode text"
    frame = extract(path, encoding="utf-16", delimiter="\t", extra_columns=("city",))
    assert frame.select("customer_id", "city").rows() == [("C1", HANOI)]
    assert error(path, delimiter="\t") == (
        f"sources.orders: {path} is not valid utf-8 (byte 0xFF at line 1, byte offset 0); "
        f'it starts with a UTF-16 byte order mark: set sources.orders.encoding = "utf-16"'
    )


# --- null markers ------------------------------------------------------------------------------


def test_null_markers_become_null_in_every_column(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "customer_id,order_date,amount,status\n"
        "C1,2024-01-01,NULL,N/A\n"
        "C2, N/A ,-,paid\n"
        "C3,2024-01-03,-5,NULLS\n",
    )
    frame = extract(path, null_values=("NULL", "N/A", " - "))
    assert frame.select("customer_id", "order_date", "amount", "status").rows() == [
        ("C1", "2024-01-01", None, None),
        ("C2", None, None, "paid"),
        ("C3", "2024-01-03", "-5", "NULLS"),
    ]


def test_no_null_markers_leaves_cells_alone(tmp_path: Path) -> None:
    path = write(tmp_path, "customer_id,order_date,status\nC1,2024-01-01,NULL\n")
    assert extract(path)["status"].to_list() == ["NULL"]


# --- separators --------------------------------------------------------------------------------

AMOUNTS = (
    "20.000.000",
    "1.234,5",
    "-1.234,50",
    "+1.234",
    "1.2.3",
    "20.00.000",
    "12",
    "12,5",
    ",5",
    "1234,5",
    " 1.000 ",
    "abc",
    "",
)


def orders_with(amounts: tuple[str, ...], tmp_path: Path) -> Path:
    rows = "".join(f'C{i},2024-01-01,"{a}","{a}"\n' for i, a in enumerate(amounts))
    return write(tmp_path, "customer_id,order_date,amount,order_id\n" + rows)


def test_dot_thousands_and_comma_decimal(tmp_path: Path) -> None:
    frame = extract(orders_with(AMOUNTS, tmp_path), thousands_separator=".", decimal_separator=",")
    assert frame["amount"].to_list() == [
        "20000000",
        "1234.5",
        "-1234.50",
        "+1234",
        # not a 3-digit grouping: marked, so validation rejects it instead of reading a
        # dot-decimal (1.2.3 and 20.00.000 would fail anyway; 12.5 below would not)
        "1.2.3 (not in the configured number format)",
        "20.00.000 (not in the configured number format)",
        "12",
        "12.5",
        ".5",
        "1234.5",
        "1000",
        "abc",
        "",  # a quoted empty value stays empty text (null downstream)
    ]
    # order_id is an id, not a number: "20.000.000" stays as written.
    assert frame["order_id"][0] == "20.000.000"


def test_comma_thousands_and_dot_decimal(tmp_path: Path) -> None:
    amounts = ("1,234.5", "-20,000,000", "1234.5", "12,5", "1,23,456", ".5")
    frame = extract(orders_with(amounts, tmp_path), thousands_separator=",")
    assert frame["amount"].to_list() == ["1234.5", "-20000000", "1234.5", "12,5", "1,23,456", ".5"]


def test_space_thousands_accepts_no_break_spaces(tmp_path: Path) -> None:
    amounts = ("20 000 000", "1\u00a0234,5", "1\u202f234", "1 2345", "1  234")
    frame = extract(orders_with(amounts, tmp_path), thousands_separator=" ", decimal_separator=",")
    assert frame["amount"].to_list() == ["20000000", "1234.5", "1234", "1 2345", "1  234"]


def test_apostrophe_thousands(tmp_path: Path) -> None:
    frame = extract(orders_with(("1'234.5", "1'23"), tmp_path), thousands_separator="'")
    assert frame["amount"].to_list() == ["1234.5", "1'23"]


def test_comma_decimal_without_thousands(tmp_path: Path) -> None:
    amounts = ("12,5", "-0,75", "1.234,5", "1234", "12,", "1,2,3")
    frame = extract(orders_with(amounts, tmp_path), decimal_separator=",")
    assert frame["amount"].to_list() == [
        "12.5",
        "-0.75",
        "1.234,5 (not in the configured number format)",
        "1234",
        "12.",
        "1,2,3",
    ]


def test_default_separators_leave_values_untouched(tmp_path: Path) -> None:
    frame = extract(orders_with(AMOUNTS, tmp_path))
    assert frame["amount"].to_list() == list(AMOUNTS)


def test_separators_apply_to_numeric_columns_only(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "customer_id,name,annual_revenue,employee_count,city\n1.234,1.234,20.000.000,1.200,1.234\n",
        "customers.csv",
    )
    frame = extract(path, "customers", thousands_separator=".", decimal_separator=",")
    assert frame.select("customer_id", "name", "annual_revenue", "employee_count").rows() == [
        ("1.234", "1.234", "20000000", "1200")
    ]
    assert frame["city"].to_list() == ["1.234"]  # dropped later unless an extra column


def test_numbers_a_parquet_file_types_are_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "orders.parquet"
    pl.DataFrame(
        {
            "customer_id": ["C1", "C2"],
            "order_date": ["2024-01-01", "NULL"],
            "amount": ["1.234,5", "20.000"],  # text: normalised
            "cost": pl.Series([Decimal("100.500"), Decimal("2.000")], dtype=pl.Decimal(10, 3)),
        }
    ).write_parquet(path)
    frame = extract(path, thousands_separator=".", decimal_separator=",", null_values=("NULL",))
    assert frame.select("order_date", "amount", "cost").rows() == [
        ("2024-01-01", "1234.5", "100.500"),
        (None, "20000", "2.000"),
    ]


def test_database_text_gets_null_markers_and_separators_typed_numbers_do_not(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "CREATE TABLE invoices (customer_id TEXT, order_date TEXT, amount TEXT, "
                "unit_price REAL, status TEXT)"
            )
        )
        connection.execute(
            sa.text("INSERT INTO invoices VALUES ('C1', '2024-01-01', '1.234,5', 1.234, 'N/A')")
        )
    engine.dispose()
    source = SourceSettings(
        url=url,
        table="invoices",
        thousands_separator=".",
        decimal_separator=",",
        null_values=("N/A",),
    )
    frame = read_source("orders", source)
    # unit_price is a REAL: 1.234 is a number already, not "1.234" with a thousands separator.
    assert frame.select("amount", "unit_price", "status").rows() == [("1234.5", "1.234", None)]


# --- CSV shape ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("delimiter", "toml"), [(";", '";"'), ("\t", '"\\t"'), ("|", '"|"')])
def test_a_wrong_delimiter_is_named(tmp_path: Path, delimiter: str, toml: str) -> None:
    header = delimiter.join(["customer_id", "order_date", "amount"])
    path = write(tmp_path, f"{header}\nC1{delimiter}2024-01-01{delimiter}5\n")
    assert error(path) == (
        f"sources.orders: {path} has one column {header!r}: is the delimiter {delimiter!r}? "
        f"set sources.orders.delimiter = {toml}"
    )


def test_a_comma_file_read_with_semicolon_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "customer_id,order_date\nC1,2024-01-01\n")
    assert error(path, delimiter=";") == (
        f"sources.orders: {path} has one column 'customer_id,order_date': is the delimiter ','? "
        f'set sources.orders.delimiter = ","'
    )


def test_an_unclosed_quote_is_an_error_not_fewer_rows(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'customer_id,order_date,name\nC1,2024-01-01,"ACME\nC2,2024-01-02,Beta\nC3,2024-01-03,x\n',
    )
    assert error(path) == (
        f"sources.orders: {path} has an unbalanced quote: the quoted value in the record "
        f'starting on line 2 is never closed (a " inside a quoted value is written "")'
    )


def test_an_unclosed_quote_followed_by_quoted_values(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'customer_id,order_date,name\nC1,2024-01-01,"ACME\nC2,2024-01-02,"Beta"\n"C3",x,"y"\n',
    )
    assert error(path) == (
        f"sources.orders: {path} has an unbalanced quote in the record starting on line 2 "
        f"(',' expected after '\"'); a \" inside a quoted value is written \"\""
    )


def test_an_unclosed_quote_in_the_header(tmp_path: Path) -> None:
    # polars alone would read this as a header swallowing the file and zero rows.
    path = write(tmp_path, 'customer_id,"order_date\nC1,2024-01-01\nC2,2024-01-02\n')
    assert "has an unbalanced quote: the quoted value in the record starting on line 1" in error(
        path
    )


def test_a_quote_inside_an_unquoted_value(tmp_path: Path) -> None:
    path = write(tmp_path, 'customer_id,order_date,name\nC1,2024-01-01,5" screen\n')
    assert error(path) == (
        f"sources.orders: {path} has an unbalanced quote on line 2: quote the whole value and "
        f'write a " inside it as ""'
    )


def test_text_after_a_closing_quote(tmp_path: Path) -> None:
    path = write(tmp_path, 'customer_id,order_date,name\nC1,2024-01-01,"ACME" Ltd\n')
    assert error(path) == (
        f"sources.orders: {path} has an unbalanced quote in the record starting on line 2 "
        f"(',' expected after '\"'); a \" inside a quoted value is written \"\""
    )


def test_a_row_with_more_fields_than_the_header(tmp_path: Path) -> None:
    path = write(
        tmp_path, "customer_id,order_date,name\nC1,2024-01-01,ACME\nC2,2024-01-02,ACME, Ltd\n"
    )
    assert error(path) == (
        f"sources.orders: {path} has 4 fields on line 3 but 3 in the header: "
        f"is a value containing ',' not quoted?"
    )


def test_a_malformed_windows_1258_file_names_the_original_file(tmp_path: Path) -> None:
    path = write(tmp_path, cp1258(f'customer_id,order_date,city\nC1,2024-01-01,"{HANOI}\n'))
    message = error(path, encoding="windows-1258")
    assert message.startswith(f"sources.orders: {path} has an unbalanced quote")


def test_embedded_newlines_in_quotes_are_one_record(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "customer_id,order_date,name\r\n"
        'C1,2024-01-01,"ACME\r\nHead office"\r\n'
        'C2,2024-01-02,"say ""hi""\nand, bye"\r\n'
        "C3,2024-01-03,plain\r\n",
    )
    frame = extract(path)
    assert frame.select("_row_number", "customer_id", "name").rows() == [
        (1, "C1", "ACME\r\nHead office"),
        (2, "C2", 'say "hi"\nand, bye'),
        (3, "C3", "plain"),
    ]


def test_embedded_newlines_in_a_windows_1258_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        cp1258(f'customer_id,order_date,city\nC1,2024-01-01,"{HANOI}\nQ1"\nC2,2024-01-02,x\n'),
    )
    frame = extract(path, encoding="windows-1258")
    assert frame.select("_row_number", "customer_id", "city").rows() == [
        (1, "C1", f"{HANOI}\nQ1"),
        (2, "C2", "x"),
    ]


@pytest.mark.parametrize("content", ["customer_id,order_date\n", "\ufeffcustomer_id,order_date"])
def test_a_header_only_file_has_zero_rows(tmp_path: Path, content: str) -> None:
    frame = extract(write(tmp_path, content))
    assert frame.columns == ["_row_number", "customer_id", "order_date"]
    assert frame.height == 0


def test_a_header_only_windows_1258_file_has_zero_rows(tmp_path: Path) -> None:
    frame = extract(write(tmp_path, cp1258("Mã KH,Ngày\n")), encoding="windows-1258")
    assert frame.columns == ["_row_number", "Mã KH", "Ngày"]
    assert frame.height == 0


def test_an_empty_file_is_still_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, b"")
    assert error(path, encoding="cp1252") == (
        f"sources.orders: {path} is empty (expected a header row)"
    )
    assert re.fullmatch(r"sources\.orders: .* is empty \(expected a header row\)", error(path))


def test_the_utf8_scan_stays_lazy(tmp_path: Path) -> None:
    path = write(tmp_path, "customer_id,order_date\nC1,2024-01-01\n")
    frame = extract_source("orders", SourceSettings(path=path, null_values=("NULL",)))
    assert isinstance(frame, pl.LazyFrame)
    assert "Csv SCAN" in frame.explain()  # not a DataFrame scan: nothing read yet


def test_whole_numbers_and_dates_a_parquet_file_types_keep_their_type(tmp_path: Path) -> None:
    # Nothing to parse: they are staged by a cast. Floats and decimals are still read as
    # text, so 0.1 is the 0.1 written, not the float nearest to it.
    path = tmp_path / "orders.parquet"
    pl.DataFrame(
        {
            "customer_id": ["C1", "C2"],
            "order_date": [date(2024, 1, 1), None],
            "amount": pl.Series([100, -5], dtype=pl.Int64),
            "unit_price": pl.Series([0.1, 2.5], dtype=pl.Float64),
            "channel": pl.Series([1, 2], dtype=pl.Int64),  # a text column stored as numbers
        }
    ).write_parquet(path)
    frame = extract(path)
    assert frame.schema["order_date"] == pl.Date
    assert frame.schema["amount"] == pl.Int64
    assert frame.select("unit_price", "channel").rows() == [("0.1", "1"), ("2.5", "2")]
