"""Deterministic refreshes: the same data under 12 Python hash seeds publishes the same tables.

Runs the documented script `bench/hash_seeds.py` (200 seeds by default) with 12
seeds on the demo's sources at 2,000 customers and 40,000 order lines (every
source, every table; an order that changes with the seed shows at any size, and
two seeds already disagree on it with near certainty): every seed a
separate process with its own `PYTHONHASHSEED` (and polars' own per-process
hashing), the real refresh without a Prefect server, every published data table
digested in a canonical row order. No seed may fail and every table must be identical across seeds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "hash_seeds.py"


@pytest.mark.slow
def test_twelve_hash_seeds_publish_identical_tables() -> None:
    result = subprocess.run(
        [
            *(sys.executable, str(SCRIPT), "--seeds", "12"),
            *("--customers", "2000", "--order-lines", "40000"),
        ],
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    report = json.loads(result.stdout)
    assert report["seeds"] == 12
    assert report["failed"] == {}, report["failed"]
    assert report["differing_tables"] == [], report["digests"]
    assert len(report["digests"]) >= 10  # every data table was compared
    assert result.returncode == 0
