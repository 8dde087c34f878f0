"""The sample data plants an ideal company profile and a buyer persona in its best customers;
the pipeline must find them again, and converted leads must fit the profile better."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import polars as pl
import pytest

from config.loader import load_config
from pipeline.profile import profile
from pipeline.stages import extract, transform, validate
from sampledata import PLANTED_BUYER, PLANTED_ICP, SAMPLE_END_DATE, generate_sample

# the contact columns planted, as the buyer profile names them
BUYER_ATTRIBUTE = {"title": "title", "level": "title_level"}


@pytest.fixture(scope="module")
def profiled(tmp_path_factory: pytest.TempPathFactory):
    directory = tmp_path_factory.mktemp("planted")
    generate_sample(directory / "data", customers=3_000, order_lines=60_000, seed=21)
    template = resources.files("config").joinpath("demo.toml").read_text(encoding="utf-8")
    (directory / "personas.toml").write_text(template, encoding="utf-8")
    config = load_config(directory / "personas.toml")
    settings = config.settings
    inputs = validate(extract(settings), settings)
    computed = transform(inputs, settings, SAMPLE_END_DATE, config.config_hash)
    return computed, profile(computed, inputs, settings, SAMPLE_END_DATE), config


def distinguishing(profiles, kind: str) -> dict[tuple[str, str], float]:
    rows = profiles.tables["personas"].filter(
        (pl.col("kind") == kind) & pl.col("is_distinguishing")
    )
    return {(a, v): lift for a, v, lift in rows.select("attribute", "value", "lift").rows()}


def test_the_planted_ideal_company_profile_is_recovered(profiled) -> None:
    _, profiles, _ = profiled
    company = distinguishing(profiles, "company")
    for attribute, value in PLANTED_ICP.items():
        assert (attribute, value) in company, (attribute, value)
    target = distinguishing(profiles, "target")
    assert all((a, v) in target for a, v in PLANTED_ICP.items())


def test_the_planted_buyer_persona_is_recovered(profiled) -> None:
    _, profiles, _ = profiled
    buyer = distinguishing(profiles, "buyer")
    for attribute, value in PLANTED_BUYER.items():
        assert (BUYER_ATTRIBUTE.get(attribute, attribute), value) in buyer, (attribute, value)


def test_the_persona_card_names_the_planted_persona_and_quotes_a_real_answer(
    profiled, tmp_path: Path
) -> None:
    computed, profiles, _ = profiled
    card = profiles.tables["persona_cards"].row(0, named=True)
    assert card["name"] == " · ".join(
        [PLANTED_BUYER["title"], PLANTED_ICP["industry"], PLANTED_ICP["city"]]
    )
    assert card["key_tier"] == computed.key_tier
    assert card["best_customers"] == computed.customers["is_best_customer"].sum()
    assert card["goals"] and "%" in card["goals"]
    assert card["quote"]


def test_no_published_value_is_shared_by_fewer_than_five_people(profiled) -> None:
    _, profiles, _ = profiled
    assert profiles.tables["personas"]["customers"].min() >= 5


def test_converted_leads_fit_the_target_profile_better(profiled) -> None:
    _, profiles, _ = profiled
    assert profiles.lead_score_auc is not None
    assert profiles.lead_score_auc > 0.55


@pytest.mark.parametrize(
    ("compare_by", "expected"),
    [
        ("tier", ["P1", "P-Large", "P-Medium", "P-Small"]),
        ("goal", ["P1", "P-growth", "P-profit", "P-loyalty"]),
    ],
)
def test_several_personas_can_be_built_to_compare(
    profiled, compare_by: str, expected: list[str]
) -> None:
    computed, _, config = profiled
    settings = config.settings.model_copy(
        update={"personas": config.settings.personas.model_copy(update={"compare_by": compare_by})}
    )
    inputs = validate(extract(settings), settings)
    profiles = profile(computed, inputs, settings, SAMPLE_END_DATE)
    cards = profiles.tables["persona_cards"]
    assert cards["persona_id"].to_list() == expected
    assert set(profiles.tables["personas"]["persona_id"]) == set(expected)
    if compare_by == "goal":
        # growth uses the leads: fastest from lead to first order
        growth = cards.filter(pl.col("persona_id") == "P-growth").row(0, named=True)
        assert growth["best_basis"] == "growth: days from lead to first order"
