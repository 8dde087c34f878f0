"""The CDNOW transaction logs as the CSV exports a user would have.

Produces `write_cdnow_csv(folder)`: `cdnow.csv` (customer_id, date, number_of_cds,
dollar_value; 69,659 lines, no order ids) written from `CDNOW_master.txt`, the
real log (Fader & Hardie) of the 23,570 customers who first bought in the first
12 weeks of 1997; and `write_cdnow_sample_csv(folder)`: `cdnow_sample.csv`, the
same columns for the 1-in-10 sample of that cohort (2,357 customers, 6,919
lines) on which Fader, Hardie & Lee (2005) fitted the BG/NBD model; and
`cdnow_config(path)`, the config of a refresh that reads such a CSV. The
`lifetimes` package ships both logs; it is only located, never imported: it is a
test dependency, and the tests and benchmarks that refresh a real log read it
from here.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

HEADER = "customer_id,date,number_of_cds,dollar_value"
# The orders source and money of a personas config that reads such a CSV at {path}.
ORDERS_CONFIG = """[sources.orders]
path = "{path}"
date_format = "%Y%m%d"
[sources.orders.columns]
order_date = "date"
quantity = "number_of_cds"
amount = "dollar_value"

[money]
currency = "USD"
scale = 2
"""
LINES = 69_659
SAMPLE_LINES = 6_919


def _log(name: str) -> list[list[str]]:
    """The fields of each record of a log that `lifetimes` ships in its datasets folder."""
    spec = importlib.util.find_spec("lifetimes")  # locates the package, runs none of it
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the CDNOW logs ship with lifetimes: pip install -e '.[test]'")
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / name
    return [line.split() for line in path.read_text().splitlines() if line.strip()]


def cdnow_lines() -> list[str]:
    """The master log's lines as CSV records, header first."""
    rows = _log("CDNOW_master.txt")[1:]  # the file has a header of its own
    return [HEADER, *(",".join(row) for row in rows)]


def write_cdnow_csv(folder: Path, *, limit: int | None = None) -> Path:
    """Write `cdnow.csv` (or its first `limit` lines) into `folder`; return its path."""
    lines = cdnow_lines()
    if limit is not None:
        lines = lines[: limit + 1]
    path = folder / ("cdnow.csv" if limit is None else f"first{limit}.csv")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_cdnow_sample_csv(folder: Path) -> Path:
    """Write `cdnow_sample.csv`, the 2,357-customer sample, into `folder`; its path.

    The sample's records are: master customer id, sample id, date, CDs, dollars; the
    master id is kept (the customer_id of `cdnow.csv`), the sample id left out."""
    rows = _log("CDNOW_sample.txt")
    path = folder / "cdnow_sample.csv"
    lines = [HEADER, *(",".join([master, *rest]) for master, _, *rest in rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def cdnow_config(path: str, more: str = "") -> str:
    """A personas config (TOML) whose orders are the CDNOW CSV at `path`, then `more`."""
    return ORDERS_CONFIG.format(path=path) + more
