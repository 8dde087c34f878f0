"""Deterministic sample CRM and sales data for ``personas demo``, tests and benchmarks.

:func:`generate_sample` writes six sources (orders, customers, contacts, products, leads,
feedback) as CSV or Parquet with canonical column names. The best customers carry a planted
ideal customer profile (:data:`PLANTED_ICP`) and their decision makers a planted buyer persona
(:data:`PLANTED_BUYER`), so tests can check that the pipeline finds them again.
"""

from sampledata.generator import (
    PLANTED_BUYER,
    PLANTED_ICP,
    SAMPLE_END_DATE,
    SAMPLE_START_DATE,
    generate_sample,
)

__all__ = [
    "PLANTED_BUYER",
    "PLANTED_ICP",
    "SAMPLE_END_DATE",
    "SAMPLE_START_DATE",
    "generate_sample",
]
