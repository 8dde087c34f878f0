"""The one error every source problem is: `SourceError`, a line naming the source's file,
table or setting (raised by `sources.extract` and `sources.parquet_files`)."""

from __future__ import annotations


class SourceError(Exception):
    """A source cannot be read as configured (missing file, unknown column, no table)."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        # A lost connection may work on a retry; a missing file or column will not.
        self.transient = transient
