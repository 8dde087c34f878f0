"""The CDNOW master transaction log as the CSV export a user would have.

Produces `write_cdnow_csv(folder)`: `cdnow.csv` (customer_id, date, number_of_cds,
dollar_value; 69,659 lines, no order ids) written from `CDNOW_master.txt`, the
real log (Fader & Hardie) that the `lifetimes` package ships. The package is
only located, never imported: it is a test dependency, and the tests and
benchmarks that refresh a real log read it from here.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

HEADER = "customer_id,date,number_of_cds,dollar_value"
LINES = 69_659


def cdnow_lines() -> list[str]:
    """The log's lines as CSV records, header first."""
    spec = importlib.util.find_spec("lifetimes")  # locates the package, runs none of it
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the CDNOW log ships with lifetimes: pip install -e '.[test]'")
    master = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "CDNOW_master.txt"
    rows = [line.split() for line in master.read_text().splitlines()[1:] if line.strip()]
    return [HEADER, *(",".join(row) for row in rows)]


def write_cdnow_csv(folder: Path, *, limit: int | None = None) -> Path:
    """Write `cdnow.csv` (or its first `limit` lines) into `folder`; return its path."""
    lines = cdnow_lines()
    if limit is not None:
        lines = lines[: limit + 1]
    path = folder / ("cdnow.csv" if limit is None else f"first{limit}.csv")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
