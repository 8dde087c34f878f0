"""The files a refresh leaves next to its configuration: the quarantine as CSV.

Produces `reports/<refresh_id>/quarantine.csv` (UTF-8 with a BOM so that Excel
shows Vietnamese text correctly), one row per problem found in an input row.
Values that a spreadsheet would run as a formula (starting with = + - @, a tab
or a carriage return) are neutralised with a leading apostrophe, the OWASP
advice for CSV injection; the warehouse table keeps them verbatim.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

FORMULA_START = r"^[=+\-@\t\r]"


def report_dir(reports_dir: Path, refresh_id: str) -> Path:
    """The folder of one refresh's reports (created)."""
    folder = reports_dir / refresh_id
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def neutralise_formulas(frame: pl.DataFrame) -> pl.DataFrame:
    """Text cells that start like a spreadsheet formula get a leading apostrophe."""
    text_columns = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    return frame.with_columns(
        pl.when(pl.col(name).str.contains(FORMULA_START))
        .then(pl.lit("'") + pl.col(name))
        .otherwise(pl.col(name))
        .alias(name)
        for name in text_columns
    )


def write_quarantine_csv(quarantine: pl.DataFrame, folder: Path) -> Path:
    """Write the quarantine to `folder/quarantine.csv`; returns its path."""
    path = folder / "quarantine.csv"
    neutralise_formulas(quarantine).write_csv(path, include_bom=True)
    return path
