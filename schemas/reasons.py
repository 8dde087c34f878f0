"""Each customer's `reason` (customer_segments), held as its parts until it is written.

Produces `reason_parts(parts)`, the columns a refresh keeps per customer instead of
the reason (one categorical column per part: why the tier, the Pareto class, the
RFM segment, each base, the best-customer flag, the configuration), and
`joined_reason(frame)`, the same rows with `reason`, the parts joined by "; " as
they are published, in place of the part columns (a frame without parts is
returned as it is).

Why: a reason is hundreds of bytes a customer (about 300 MB for 500,000
customers), most of it the same few texts, and every plan that carries it copies
it. A part is one of few texts (a rule that fired, a segment and its scores) or,
for the tier, one per leading revenue: held as categoricals, the parts take a
fraction of the text's memory, and the whole text exists only a slice of rows at
a time, while the table is checked and written.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import polars as pl

REASON = "reason"
PART_PREFIX = "_reason_part_"
SEPARATOR = "; "

Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)


def as_part(text: pl.Expr) -> pl.Expr:
    """A reason's part as it is kept: categorical (each distinct text held once)."""
    return text.cast(pl.Categorical)


def reason_parts(parts: Sequence[pl.Expr]) -> dict[str, pl.Expr]:
    """The columns that stand for the reason: `parts` in order, each as `as_part`.

    A null part makes the reason null, as `concat_str` does."""
    return {f"{PART_PREFIX}{number:02d}": as_part(part) for number, part in enumerate(parts)}


def part_columns(columns: Sequence[str]) -> list[str]:
    """The reason's part columns among `columns`, in the order they are joined."""
    return sorted(column for column in columns if column.startswith(PART_PREFIX))


def joined_reason(frame: Frame) -> Frame:
    """`frame` with `reason` joined from its parts in place of the part columns;
    unchanged when it has no parts."""
    names = frame.collect_schema().names()
    parts = part_columns(names)
    if not parts:
        return frame
    reason = pl.concat_str([pl.col(part).cast(pl.String) for part in parts], separator=SEPARATOR)
    at = min(names.index(part) for part in parts)  # the reason takes the first part's place
    kept = [pl.col(name) for name in names if name not in parts]
    return frame.select(*kept[:at], reason.alias(REASON), *kept[at:])


def without_reason(frame: Frame) -> Frame:
    """`frame` without its reason, joined or in parts (for what never reads it)."""
    names = frame.collect_schema().names()
    return frame.drop([REASON, *part_columns(names)], strict=False)
