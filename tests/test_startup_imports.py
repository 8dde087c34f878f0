"""What a `personas` process imports: only what its work needs.

pandera is imported without its pandas API (see `schemas`), and psycopg only
when a PostgreSQL warehouse is opened. Each is measured in a fresh process:
the test process itself has imported everything.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import python_without_prefect

# A refresh run in this process as `personas refresh` runs it, then which of the
# packages it does not need were loaded (the CLI ends its process itself, after the
# exit handlers).
REFRESH_THEN_LOADED = """
import atexit, runpy, sys
atexit.register(
    lambda: print({name: name in sys.modules for name in ("pandas", "pyspark", "psycopg")})
)
sys.argv = ["personas", "refresh", "--config", sys.argv[1], "--as-of", "2024-06-01"]
runpy.run_module("flows.cli", run_name="__main__")
"""

# The problems the orders contract finds in three bad rows, after importing pandas
# first (pandera is then imported whole) or not.
PROBLEMS_FOUND = """
import json, sys
if sys.argv[1] == "pandas first":
    import pandas
import polars as pl
from schemas.inputs import ROW_NUMBER, raw_schema
from schemas.validation import find_problems
rows = pl.DataFrame(
    {
        "order_date": ["2024-01-02", "2024-13-01", "2024-01-03"],
        "customer_id": ["C1", None, "C2"],
        "amount": ["12.50", "1,2,3", "-"],
    }
).with_row_index(ROW_NUMBER, offset=1)
problems = find_problems("orders", rows, raw_schema("orders", scale=4, date_format=None))
import pandas as pd  # importable afterwards, and whole
assert pd.DataFrame({"a": [1, 2]})["a"].sum() == 3
print(json.dumps(problems.sort(pl.all()).rows()))
"""


def _printed(args: list[str], tmp_path: Path) -> str:
    """The last line a fresh Python process prints, which must succeed."""
    done = python_without_prefect(args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def test_a_refresh_into_duckdb_loads_neither_pandas_nor_pyspark_nor_psycopg(
    orders_only: Path, tmp_path: Path
) -> None:
    last = _printed(["-c", REFRESH_THEN_LOADED, str(orders_only)], tmp_path)
    assert last == "{'pandas': False, 'pyspark': False, 'psycopg': False}"


def test_the_contracts_find_the_same_problems_whether_pandas_was_imported_first_or_not(
    tmp_path: Path,
) -> None:
    found = json.loads(_printed(["-c", PROBLEMS_FOUND, "pandera first"], tmp_path))
    assert found == json.loads(_printed(["-c", PROBLEMS_FOUND, "pandas first"], tmp_path))
    # The bad month, the missing customer and both bad amounts, each named.
    assert {(row, column) for _, row, column, *_ in found} >= {
        (2, "order_date"),
        (2, "customer_id"),
        (2, "amount"),
        (3, "amount"),
    }
