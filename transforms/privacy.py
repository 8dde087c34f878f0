"""Keep e-mail addresses and phone numbers out of every output, report and log.

Produces `protect_pii(frame, ...)`, applied to each source right after it is
read, so nothing downstream (validation, the quarantine, reports, published
tables) ever holds them in clear text:

- columns named like contact data (email, phone, mobile, tel, ...) or listed in
  `privacy.pii_columns`: every value becomes a keyed hash, `pii:` + 16 hex
  digits of HMAC-SHA256, so equal values stay equal (joins and counts still
  work) but cannot be read back or looked up without the key;
- key columns (customer_id, contact_id, ...) holding an e-mail address or a
  phone number (B2C CRMs and point-of-sale systems often key on them): the same
  keyed hash, identical in every source (`hash_contact_ids`, on by default);
- free text (names, feedback, titles ...): e-mail addresses and phone numbers
  inside the text are replaced by `[email]` and `[phone]`;
- `mask_contact_data`, for values set aside in the quarantine: an e-mail or
  phone number in the wrong column (a shifted row) is masked there too.

Before hashing, a value is brought to one form (`contact_key`): an e-mail is
lower-cased (`An@Example.com` and `an@example.com` are one key) and a phone
number is written in E.164, + and digits ("0912 345 678", "0912.345.678",
"+84 912 345 678" and, in a contact column, "912345678", the number Excel made
of it, are one key, +84912345678; the country code of numbers written without
one is `privacy.phone_country_code`, 84 by default). Hashes are computed once per
distinct value (of a batch of rows, for keys), not per row.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from functools import partial
from typing import TypeVar

import polars as pl

Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)

EMAIL = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
# 9+ digits, optionally with a leading + and spaces, dots, dashes or brackets between.
PHONE = r"\+?\(?[0-9](?:[0-9 .()-]{7,}[0-9])"
# A whole value that is a phone number: it starts as one does (+, a bracket, or 0 and a
# non-zero digit), so numeric codes such as 100234567 or zero-padded 0000012345 are not.
PHONE_VALUE = r"^(?:\+|\(|0[1-9])[0-9 .()-]{6,}[0-9]$"
# A key value that is a contact: an e-mail or a phone number, blanks around it allowed
# (as a trimmed value is tested), so no trimmed copy of millions of keys is made.
CONTACT_VALUE = rf"^\s*(?:{EMAIL}|{PHONE_VALUE[1:-1]})\s*$"
# A phone number inside a value that should hold something else (a shifted row).
STRAY_PHONE = r"(?:\+|\b0[1-9])[0-9 .()-]{6,}[0-9]"
PII_NAME = re.compile(
    r"e-?mail|phone|mobile|^tel$|^tel_|_tel$|telephone|fax|s[đd]t|so_?dien_?thoai|dien_?thoai",
    re.IGNORECASE,
)


def is_pii_name(column: str) -> bool:
    """Whether a column's name says it holds contact data."""
    return bool(PII_NAME.search(column))


# A national number whose leading 0 a spreadsheet dropped (912345678): in a contact
# column only, where a bare number of this length is a phone number.
BARE_NATIONAL = r"^[1-9][0-9]{7,10}$"
# The international prefix written out (0084 912 345 678), in a contact column.
INTERNATIONAL_00 = r"^00[1-9][0-9 .()-]{6,}[0-9]$"


def contact_key(value: str, country_code: str = "84", *, contact_column: bool = False) -> str:
    """One form per contact: e-mails lower-cased, phone numbers in E.164 (+ and digits)."""
    value = value.strip()
    if "@" in value:
        return value.lower()
    in_contact_column = contact_column and (
        re.fullmatch(BARE_NATIONAL, value) or re.fullmatch(INTERNATIONAL_00, value)
    )
    if re.fullmatch(PHONE_VALUE, value) or in_contact_column:
        digits = re.sub(r"[^0-9]", "", value)
        if value.startswith("+"):
            return "+" + digits
        if digits.startswith("00"):  # the international prefix written out
            return "+" + digits[2:]
        return "+" + country_code + digits.removeprefix("0")
    return value


def mask_contact_data(text: pl.Expr) -> pl.Expr:
    """E-mail addresses and phone numbers inside `text` replaced by [email] and [phone]."""
    return text.str.replace_all(EMAIL, "[email]").str.replace_all(STRAY_PHONE, "[phone]")


def keyed_hash(value: str, key: bytes) -> str:
    """`pii:` + the first 16 hex digits of HMAC-SHA256(key, value)."""
    return "pii:" + hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:16]


def protect_pii(
    frame: Frame,
    *,
    key: bytes,
    id_columns: Iterable[str],
    text_columns: Iterable[str],
    pii_columns: Iterable[str] = (),
    hash_contact_ids: bool = True,
    country_code: str = "84",
) -> Frame:
    """`frame` with contact data hashed or masked (see the module docstring).

    Args:
        frame: a source's rows, all text (lazy: the values of the columns hashed whole
            are found in one pass over it, keys are hashed as their rows pass, and the
            rest is a plan).
        key: the secret hash key.
        id_columns: key columns, hashed where a value is an e-mail address or a phone
            number (unless `hash_contact_ids` is false).
        text_columns: free-text columns, masked inside.
        pii_columns: extra columns to hash whole, besides those named like contact data.
        hash_contact_ids: hash key values that are e-mails or phone numbers.
        country_code: of phone numbers written without one (E.164, without the +).
    """
    extra = set(pii_columns)
    schema = frame.collect_schema()
    names = schema.names()
    whole = [c for c in names if is_pii_name(c) or c in extra]
    ids = [c for c in id_columns if c in names and c not in whole]
    ids = ids if hash_contact_ids else []
    texts = [c for c in text_columns if c in names and c not in whole and c not in ids]
    # A column hashed whole is text from here on, whatever type its source stored.
    frame = frame.with_columns(pl.col(c).cast(pl.String) for c in whole)
    hashed = _whole_column_hashes(frame, whole, key, country_code)
    # `replace` maps only the values hashed. A key column's contacts are found and hashed
    # a batch of rows at a time, as the rows pass: no pass over the source of its own
    # (millions of keys, few if any of them contacts). A number is never a contact (a
    # phone number starts with +, a bracket or 0), so only text keys are looked at.
    return frame.with_columns(
        *(pl.col(c).replace(hashed) for c in whole if hashed),
        *(
            pl.col(c).map_batches(
                partial(_contact_ids_hashed, key=key, country_code=country_code),
                return_dtype=pl.String,
                is_elementwise=True,
            )
            for c in ids
            if schema[c] == pl.String
        ),
        *(
            pl.col(c).str.replace_all(EMAIL, "[email]").str.replace_all(PHONE, "[phone]")
            for c in texts
        ),
    )


def _whole_column_hashes(
    frame: pl.DataFrame | pl.LazyFrame, whole: list[str], key: bytes, country_code: str
) -> dict[str, str]:
    """Keyed hashes of the distinct values of the columns hashed whole (few, compared to
    rows), each value brought to its contact form first."""
    if not whole:
        return {}
    # The columns stacked into one (a streamed pass over the source, never held: separate
    # plans over one lazy source would share it, held whole, between them).
    values = (
        frame.lazy()
        .select(pl.col(c).cast(pl.String) for c in whole)
        .unpivot(value_name="v")
        .select("v")
        .drop_nulls()
        .unique()
        .collect(engine="streaming")["v"]
    )
    return _hashed(values.sort().to_list(), key, country_code, contact_column=True)


def _contact_ids_hashed(ids: pl.Series, *, key: bytes, country_code: str) -> pl.Series:
    """A batch of key values with those that are e-mails or phone numbers hashed (as
    `contact_key` writes them); a batch without one (the usual case) is kept as it is."""
    contacts = ids.str.contains(CONTACT_VALUE)
    if not contacts.any():
        return ids
    found = ids.filter(contacts).unique().sort().to_list()
    return ids.replace(_hashed(found, key, country_code, contact_column=False))


def _hashed(
    values: list[str], key: bytes, country_code: str, *, contact_column: bool
) -> dict[str, str]:
    """Each value's keyed hash, of the value in its contact form (`contact_key`)."""
    return {
        value: keyed_hash(contact_key(value, country_code, contact_column=contact_column), key)
        for value in values
    }
