"""Keep e-mail addresses and phone numbers out of every output, report and log.

Produces `protect_pii(frame, ...)`, applied to each source right after it is
read, so nothing downstream (validation, the quarantine, reports, published
tables) ever holds them in clear text:

- columns named like contact data (email, phone, mobile, tel, ...) or listed in
  `privacy.pii_columns`: every value becomes a keyed hash, `pii:` + 16 hex
  digits of HMAC-SHA256, so equal values stay equal (joins and counts still
  work) but cannot be read back or looked up without the key;
- key columns (customer_id, contact_id, ...) holding an e-mail address (B2C CRMs
  often key on it): the same keyed hash, identical in every source;
- free text (names, feedback, titles ...): e-mail addresses and phone numbers
  inside the text are replaced by `[email]` and `[phone]`.

Hashes are computed once per distinct value, not per row.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable

import polars as pl

EMAIL = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
# 9+ digits, optionally with a leading + and spaces, dots, dashes or brackets between.
PHONE = r"\+?\(?\d(?:[\d .()-]{7,}\d)"
PII_NAME = re.compile(
    r"e-?mail|phone|mobile|^tel$|^tel_|_tel$|telephone|fax|s[đd]t|so_?dien_?thoai|dien_?thoai",
    re.IGNORECASE,
)


def is_pii_name(column: str) -> bool:
    """Whether a column's name says it holds contact data."""
    return bool(PII_NAME.search(column))


def keyed_hash(value: str, key: bytes) -> str:
    """`pii:` + the first 16 hex digits of HMAC-SHA256(key, value)."""
    return "pii:" + hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:16]


def protect_pii(
    frame: pl.DataFrame,
    *,
    key: bytes,
    id_columns: Iterable[str],
    text_columns: Iterable[str],
    pii_columns: Iterable[str] = (),
) -> pl.DataFrame:
    """`frame` with contact data hashed or masked (see the module docstring).

    Args:
        frame: a source's rows, all text.
        key: the secret hash key.
        id_columns: key columns, hashed where a value is an e-mail address.
        text_columns: free-text columns, masked inside.
        pii_columns: extra columns to hash whole, besides those named like contact data.
    """
    extra = set(pii_columns)
    whole = [c for c in frame.columns if is_pii_name(c) or c in extra]
    ids = [c for c in id_columns if c in frame.columns and c not in whole]
    texts = [c for c in text_columns if c in frame.columns and c not in whole and c not in ids]
    hashed = _hashes(frame, whole, ids, key)
    # `replace` maps only the values hashed: an id that is not an e-mail stays as it is.
    return frame.with_columns(
        *(pl.col(c).replace(hashed) for c in [*whole, *ids]),
        *(
            pl.col(c).str.replace_all(EMAIL, "[email]").str.replace_all(PHONE, "[phone]")
            for c in texts
        ),
    )


def _hashes(frame: pl.DataFrame, whole: list[str], ids: list[str], key: bytes) -> dict[str, str]:
    """Keyed hashes of the distinct values that will be hashed (few, compared to rows)."""
    parts = [frame.select(pl.col(c).alias("v")).drop_nulls().unique() for c in whole]
    parts += [
        frame.select(pl.col(c).alias("v")).unique().filter(pl.col("v").str.contains(f"^{EMAIL}$"))
        for c in ids
    ]
    if not parts:
        return {}
    values = pl.concat([p.cast(pl.String) for p in parts]).unique()["v"].to_list()
    return {value: keyed_hash(value, key) for value in values}
