"""A planted truth through the whole core (extract, validate, transform, profile): the key
tier is Medium by sales while decoy accounts are the biggest customers, and the best
customers share one planted value among 60 pure-noise attributes. The default rule and the
package rule must both find Medium, the planted value and nothing else."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from config.loader import load_config
from pipeline.profile import profile
from pipeline.stages import extract, transform, validate

AS_OF = date(2024, 12, 31)
NOISE = [f"noise_{i:02d}" for i in range(60)]
PRICES = {"Gold": 20_000_000, "Silver": 10_000_000, "Bronze": 5_000_000}


def plant(directory: Path, seed: int = 5) -> None:
    """Medium (Silver, ~10M) buyers bring most sales; 20 decoy accounts buy Gold (~20M)
    and are the largest customers; the 30 biggest Silver buyers are 90% Logistics."""
    rng = np.random.default_rng(seed)
    groups = (
        [("Bronze", 2, "small")] * 350  # 700 purchases of ~5M: 3.5bn
        + [("Silver", 6, "best")] * 30  # the best of the key tier: 1.8bn
        + [("Silver", 4, "medium")] * 120  # 4.8bn: Medium 6.6bn of ~11.5bn
        + [("Gold", 6, "decoy")] * 20  # 2.4bn, 120M each: the biggest customers
    )
    customers, orders = [], []
    for number, (package, purchases, kind) in enumerate(groups):
        customer = f"K{number:04d}"
        planted = rng.random() < (0.9 if kind == "best" else 0.1)
        row = {
            "customer_id": customer,
            "industry": "Logistics" if planted else str(rng.choice(["Retail", "Food", "IT"])),
        }
        row |= {name: str(rng.choice(["a", "b", "c"])) for name in NOISE}
        customers.append(row)
        for purchase in range(purchases):
            price = round(PRICES[package] * rng.uniform(0.9, 1.1))
            orders.append(
                {
                    "customer_id": customer,
                    "order_id": f"{customer}-{purchase}",
                    "order_date": f"2024-{1 + purchase:02d}-{1 + number % 28:02d}",
                    "amount": str(price),
                    "product_id": package[0],
                }
            )
    data = directory / "data"
    data.mkdir(parents=True)
    pl.DataFrame(customers).write_csv(data / "customers.csv")
    pl.DataFrame(orders).write_csv(data / "orders.csv")
    pl.DataFrame(
        {"product_id": ["G", "S", "B"], "package": ["Gold", "Silver", "Bronze"]}
    ).write_csv(data / "products.csv")


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("planted-tiers")
    plant(directory)
    return directory


def run_core(directory: Path, rule: str):
    extras = ", ".join(f'"{name}"' for name in NOISE)
    config_path = directory / f"{rule}.toml"
    config_path.write_text(
        "[sources.orders]\npath = 'data/orders.csv'\n"
        "[sources.customers]\npath = 'data/customers.csv'\n"
        f"extra_columns = [{extras}]\n"
        "[sources.products]\npath = 'data/products.csv'\n"
        f"[tiers]\nrule = '{rule}'\n"
        "[quality]\nexpectations = false\ndata_docs = false\n",
        encoding="utf-8",
    )
    config = load_config(config_path)
    settings = config.settings
    inputs = validate(extract(settings), settings)
    computed = transform(inputs, settings, AS_OF, config.config_hash)
    return computed, profile(computed, inputs, settings, AS_OF)


@pytest.mark.parametrize("rule", ["order_value", "package"])
def test_medium_by_sales_and_only_the_planted_value_are_found(planted: Path, rule: str) -> None:
    computed, profiles = run_core(planted, rule)
    summary = computed.tables["tier_summary"]
    assert computed.key_tier == "Medium"
    assert summary.filter("is_key_tier")["decided_by"].item() == "majority"
    # the decoys are the biggest customers, yet Large is not the key tier
    top = computed.customers.sort("pareto_rank").head(20)
    assert set(top["customer_id"]) == {f"K{n:04d}" for n in range(500, 520)}
    best = computed.customers.filter("is_best_customer")
    assert best.height == 30  # ceil(0.20 × 150 Silver buyers)
    assert set(best["customer_id"]) == {f"K{n:04d}" for n in range(350, 380)}
    personas = profiles.tables["personas"]
    kept = personas.filter((pl.col("kind") == "company") & pl.col("is_distinguishing"))
    assert kept.select("attribute", "value").rows() == [("industry", "Logistics")]
    card = profiles.tables["persona_cards"].row(0, named=True)
    assert card["profile_note"] is None  # 30 best customers: enough to profile
