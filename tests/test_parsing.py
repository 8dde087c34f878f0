"""Text-to-type parsing: what is accepted, what is rejected, and that nothing is rounded."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms import parsing


def parse(expr: pl.Expr, values: list[str | None]) -> list[object]:
    return (
        pl.DataFrame({"v": values}, schema={"v": pl.String}).select(expr.alias("v"))["v"].to_list()
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20000000", Decimal("20000000")),
        ("2.55", Decimal("2.55")),
        (" -3.1 ", Decimal("-3.1")),
        ("+7", Decimal("7")),
        (".5", Decimal("0.5")),
        ("1.2345000", Decimal("1.2345")),
        ("1.23456", None),  # more places than the scale: rejected, never rounded
        ("1e3", None),
        ("20.000.000", None),
        ("1,5", None),
        ("", None),
        ("abc", None),
    ],
)
def test_decimal_parsing_is_exact_or_null(text: str, expected: Decimal | None) -> None:
    assert parse(parsing.parse_decimal("v", 4), [text]) == [expected]
    validity = parse(parsing.is_valid_decimal("v", 4), [text])
    assert validity == ([None] if text == "" else [expected is not None])  # blank: no value


@pytest.mark.parametrize(
    ("text", "expected"),
    [("12", 12), ("-3", -3), ("5.0", 5), ("5.5", None), ("x", None), ("", None)],
)
def test_integer_parsing(text: str, expected: int | None) -> None:
    assert parse(parsing.parse_integer("v"), [text]) == [expected]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-02", datetime(2024, 1, 2)),
        ("2024-01-02 03:04", datetime(2024, 1, 2, 3, 4)),
        ("2024-01-02T03:04:05", datetime(2024, 1, 2, 3, 4, 5)),
        ("2024-01-02 03:04:05.250", datetime(2024, 1, 2, 3, 4, 5, 250000)),
        ("2024-02-30", None),
        ("02/01/2024", None),
        ("yesterday", None),
    ],
)
def test_iso_dates_in_every_common_shape(text: str, expected: datetime | None) -> None:
    assert parse(parsing.parse_datetime("v"), [text]) == [expected]


def test_a_configured_format_replaces_iso() -> None:
    values = ["12/1/2010 8:26", "2010-12-01 08:26:00"]
    assert parse(parsing.parse_datetime("v", "%m/%d/%Y %H:%M"), values) == [
        datetime(2010, 12, 1, 8, 26),
        None,
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("true", True),
        ("Yes", True),
        ("1", True),
        ("có", True),
        ("false", False),
        ("không", False),
        ("0", False),
        ("maybe", None),
    ],
)
def test_flags(text: str, expected: bool | None) -> None:
    assert parse(parsing.parse_flag("v"), [text]) == [expected]


# Text of ten characters made of what a date is written with, so that most draws are
# near-dates: the bare-date fast path must read each exactly as its normalised form does.
_DATE_CHARACTERS = "0123456789-+ /T:.a２"


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.none(),
            st.text(alphabet=_DATE_CHARACTERS, min_size=10, max_size=10),
            st.dates().map(lambda day: day.isoformat()),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_bare_dates_read_as_their_normalised_form(values: list[str | None]) -> None:
    normalised = parsing._iso_normalised(parsing.text("v")).str.to_datetime(
        parsing.ISO_DATETIME_FORMAT, strict=False, time_unit="us"
    )
    # As microseconds: a year before 1 (read from "-024-…") has no Python datetime.
    as_number = pl.Int64
    assert parse(parsing.parse_datetime("v").cast(as_number), values) == parse(
        normalised.cast(as_number), values
    )


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(alphabet="ab \t\u00a0\u3000x"))))
def test_tidy_text_is_trimming_with_blanks_as_null(values: list[str | None]) -> None:
    trimmed = pl.col("v").str.strip_chars()
    assert parse(parsing.text("v"), values) == parse(
        pl.when(trimmed.str.len_chars() > 0).then(trimmed), values
    )
