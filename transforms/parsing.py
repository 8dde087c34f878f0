"""Polars expressions that turn raw text columns into typed values, and say when they cannot.

Produces pairs of expressions per kind of value (decimal money, whole numbers,
dates, flags): `parse_*` gives the typed value (null where the text is not
valid), `is_valid_*` says whether a non-empty text is valid. Staging uses the
first, validation the second, so the two can never disagree.
"""

from __future__ import annotations

import polars as pl

# ISO 8601 shapes accepted when a source sets no `date_format`: YYYY-MM-DD, optionally
# followed by " " or "T" and HH:MM, HH:MM:SS or HH:MM:SS.ffffff. They are normalised to
# one shape and parsed once, which is several times faster than trying each format.
ISO_DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S%.f"
TRUE_WORDS = ("true", "t", "yes", "y", "1", "có", "co", "x")
FALSE_WORDS = ("false", "f", "no", "n", "0", "không", "khong")


def text(column: str) -> pl.Expr:
    """The column as trimmed text, with empty strings as null."""
    return (
        pl.col(column)
        .cast(pl.String)
        .map_batches(tidy_text, return_dtype=pl.String, is_elementwise=True)
    )


# Text with a blank at either end, or none at all: the values trimming would change.
_UNTIDY = r"^\s|\s$|^$"


def tidy_text(values: pl.Series) -> pl.Series:
    """`values` trimmed, empty strings as null. A batch with nothing to trim (the usual
    case: exported ids and codes) comes back as it is, sharing its memory: trimming
    every value anew costs a copy of the column and a second of time per 10M values."""
    if not values.str.contains(_UNTIDY).any():
        return values
    trimmed = values.str.strip_chars()
    return trimmed.set(trimmed.str.len_chars() == 0, None)  # type: ignore[arg-type]


# Digits are ASCII only: `\d` would also match full-width "２" or Arabic-Indic "٣", which
# no cast reads, so such a value would pass validation and become null in staging.
MAX_PRECISION = 38  # digits of a Decimal(38, scale)
MAX_INTEGER_DIGITS = 18  # every 18-digit whole number fits an Int64


def whole_digits(scale: int) -> int:
    """Digits a Decimal(38, scale) holds before the decimal point."""
    return MAX_PRECISION - scale


def _decimal_pattern(scale: int, whole: str = "+") -> str:
    # Trailing zeros beyond the scale are harmless ("2.5500" at scale 2); other digits are
    # not. A bare leading dot (".5") is accepted, as spreadsheets write it. Leading zeros
    # never count against the precision.
    fraction = rf"\.[0-9]{{0,{scale}}}0*" if scale > 0 else r"\.0*"
    leading_dot = rf"|\.[0-9]{{1,{scale}}}0*" if scale > 0 else ""
    return rf"^[+-]?(?:0*[0-9]{whole}(?:{fraction})?{leading_dot})$"


def is_valid_decimal(column: str, scale: int) -> pl.Expr:
    """True where the text is a plain decimal with at most `scale` significant places."""
    return text(column).str.contains(_decimal_pattern(scale))


def fits_decimal(column: str, scale: int) -> pl.Expr:
    """True where a valid decimal has few enough digits to be held exactly."""
    return text(column).str.contains(_decimal_pattern(scale, f"{{1,{whole_digits(scale)}}}"))


def parse_decimal(column: str, scale: int) -> pl.Expr:
    """The text as an exact Decimal(38, scale); null where it is not valid or too long."""
    raw = text(column)
    return (
        pl.when(raw.str.contains(_decimal_pattern(scale, f"{{1,{whole_digits(scale)}}}")))
        .then(raw.str.strip_prefix("+"))
        .cast(pl.Decimal(MAX_PRECISION, scale), strict=False)
    )


_INTEGER_PATTERN = r"^[+-]?[0-9]+(?:\.0*)?$"
_FITTING_INTEGER = rf"^[+-]?0*[0-9]{{1,{MAX_INTEGER_DIGITS}}}(?:\.0*)?$"


def is_valid_integer(column: str) -> pl.Expr:
    """True where the text is a whole number (a trailing `.0` is allowed)."""
    return text(column).str.contains(_INTEGER_PATTERN)


def fits_integer(column: str) -> pl.Expr:
    """True where a whole number has at most 18 digits (it fits an Int64)."""
    return text(column).str.contains(_FITTING_INTEGER)


def parse_integer(column: str) -> pl.Expr:
    """The text as Int64; null where it is not a whole number or too long."""
    raw = text(column)
    return (
        pl.when(raw.str.contains(_FITTING_INTEGER))
        .then(raw.str.strip_prefix("+").str.replace(r"\.0*$", ""))
        .cast(pl.Int64, strict=False)
    )


def _iso_normalised(raw: pl.Expr) -> pl.Expr:
    spaced = raw.str.replace(r"^([0-9]{4}-[0-9]{2}-[0-9]{2})T", "$1 ")
    length = spaced.str.len_chars()
    return (
        pl.when(length == 10)
        .then(spaced + " 00:00:00")
        .when(length == 16)
        .then(spaced + ":00")
        .otherwise(spaced)
    )


def parse_datetime(column: str, date_format: str | None = None) -> pl.Expr:
    """The text as a Datetime(us); null where it does not match the format (or ISO 8601)."""
    raw = text(column)
    if date_format:
        return raw.str.to_datetime(date_format, strict=False, time_unit="us")
    return raw.map_batches(iso_datetimes, return_dtype=pl.Datetime("us"), is_elementwise=True)


def iso_datetimes(values: pl.Series) -> pl.Series:
    """ISO 8601 text (trimmed) as Datetime(us), null where it is not one of the shapes.

    A batch of bare dates (the usual export: every value 10 characters) is read as
    YYYY-MM-DD at once, which is what its normalised form " 00:00:00" reads as;
    other batches are normalised to one shape first, which costs a copy of each value.
    """
    if (values.str.len_chars() == 10).all():
        return values.str.to_datetime("%Y-%m-%d", strict=False, time_unit="us")
    return (
        values.to_frame("text")
        .select(
            _iso_normalised(pl.col("text")).str.to_datetime(
                ISO_DATETIME_FORMAT, strict=False, time_unit="us"
            )
        )
        .to_series()
    )


def is_valid_datetime(column: str, date_format: str | None = None) -> pl.Expr:
    """True where the text matches the configured (or an ISO) date format."""
    return parse_datetime(column, date_format).is_not_null()


def parse_date(column: str, date_format: str | None = None) -> pl.Expr:
    """The text as a Date; null where no accepted format matches."""
    return parse_datetime(column, date_format).dt.date()


def parse_flag(column: str) -> pl.Expr:
    """The text as a Boolean (true/false, yes/no, 1/0, có/không); null otherwise."""
    word = text(column).str.to_lowercase()
    return (
        pl.when(word.is_in(TRUE_WORDS))
        .then(pl.lit(True))
        .when(word.is_in(FALSE_WORDS))
        .then(pl.lit(False))
    )


def is_valid_flag(column: str) -> pl.Expr:
    """True where the text is a recognised yes/no word."""
    return parse_flag(column).is_not_null()
