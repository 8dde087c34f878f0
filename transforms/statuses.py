"""What an order line's status means: a sale, cancelled (counts for nothing) or refunded.

Produces `status_category(expr, statuses)`, the category word of a status text
(`completed`, `cancelled`, `refunded`; null for a blank status, which is a
sale; `UNKNOWN` for a text no list names), and `DEFAULT_STATUSES`, the built-in
lists in English and Vietnamese. Statuses are compared trimmed, lower-cased and
NFC-normalised, so "Đã hủy", "đã hủy " and the decomposed spelling are one status.
Validation rejects a line whose status is unknown, naming the setting to add it
to: an unknown status is never silently a sale.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence

import polars as pl

SALE, CANCELLED, REFUNDED = "completed", "cancelled", "refunded"
UNKNOWN = "(unknown status)"
CATEGORIES = {"sale": SALE, "cancelled": CANCELLED, "refunded": REFUNDED}

DEFAULT_STATUSES: dict[str, tuple[str, ...]] = {
    "sale": (
        "completed", "complete", "paid", "delivered", "shipped", "closed", "invoiced",
        "fulfilled", "done", "success", "successful", "confirmed", "sale", "sold", "ok",
        "hoàn thành", "đã hoàn thành", "đã giao", "đã giao hàng", "đã thanh toán",
        "thành công", "đã xác nhận", "đã bán",
    ),
    "cancelled": (
        "cancelled", "canceled", "cancel", "void", "voided", "rejected", "failed",
        "hủy", "huỷ", "đã hủy", "đã huỷ", "hủy bỏ", "huỷ bỏ", "thất bại",
    ),
    "refunded": (
        "refunded", "refund", "returned", "return", "chargeback",
        "hoàn tiền", "đã hoàn tiền", "trả hàng", "đã trả hàng", "hoàn trả", "trả lại",
    ),
}  # fmt: skip


def status_key(text: str) -> str:
    """One spelling of a status word: trimmed, lower-case, NFC."""
    return unicodedata.normalize("NFC", text.strip().lower())


def status_category(
    status: pl.Expr, statuses: Mapping[str, Sequence[str]] = DEFAULT_STATUSES
) -> pl.Expr:
    """`completed` / `cancelled` / `refunded` for a listed status, null for a blank one,
    `UNKNOWN` for any other text."""
    mapping = {
        status_key(word): CATEGORIES[category]
        for category, words in statuses.items()
        for word in words
    }

    def categories(values: pl.Series) -> pl.Series:
        # A status column holds a handful of distinct texts: each is read once, and the
        # lines look their category up, instead of folding every line's text.
        distinct = values.unique().to_frame("status")
        key = pl.col("status").str.strip_chars().str.to_lowercase().str.normalize("NFC")
        lookup = distinct.with_columns(
            category=pl.when(key.is_null() | (key == ""))
            .then(pl.lit(None, pl.String))
            .otherwise(key.replace_strict(mapping, default=UNKNOWN, return_dtype=pl.String))
        )
        found = values.to_frame("status").join(
            lookup, on="status", how="left", nulls_equal=True, maintain_order="left"
        )
        return found["category"]

    return status.cast(pl.String).map_batches(
        categories, return_dtype=pl.String, is_elementwise=True
    )
