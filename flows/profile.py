"""Prefect tasks of the persona stage: profiles, persona card, lead scores, segment movement.

Each task takes the frames computed before it and returns the tables it adds:
`personas` (company / buyer / target attribute rows), `persona_cards`,
`lead_scores` and `segment_transitions`, plus facts for the run record
(lead-scoring AUC, which sources were missing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import polars as pl
import sqlalchemy as sa
from prefect import task
from prefect.cache_policies import NO_CACHE

from config.settings import Settings
from flows.tasks import PERSONA_ID, Computed, ValidatedInputs, _timed, open_warehouse
from transforms.leads import conversion_auc, lead_scores
from transforms.persona_cards import representative_quote, top_values
from transforms.profiles import (
    attribute_profile,
    bands,
    normalise_titles,
    persona_name,
    target_profile,
)
from transforms.segmentation import BASES, age_at
from transforms.transitions import segment_transitions
from warehouse.publish import WarehouseError

PROFILE_COLUMNS = [
    "attribute",
    "value",
    "support",
    "lift",
    "customers",
    "population_share",
    "ci_low",
    "ci_high",
    "is_distinguishing",
]
FEEDBACK_FIELDS = ("goal", "pain_point", "motivation", "info_source")


@dataclass
class Profiles:
    """The persona stage's tables and what the run record should say about them."""

    tables: dict[str, pl.DataFrame]
    notes: list[str] = field(default_factory=list)
    lead_score_auc: float | None = None


def _with_bands(frame: pl.LazyFrame, settings: Settings) -> pl.LazyFrame:
    personas = settings.personas
    names = frame.collect_schema().names()
    added = []
    if "employee_count" in names:
        added.append(bands("employee_count", personas.employee_bands).alias("employee_band"))
    if "annual_revenue" in names:
        added.append(
            bands("annual_revenue", personas.annual_revenue_bands).alias("annual_revenue_band")
        )
    if "age" in names:
        added.append(bands("age", personas.age_bands).alias("age_band"))
    return frame.with_columns(added)


def _profile(population: pl.LazyFrame, attributes: tuple[str, ...], settings: Settings):
    personas = settings.personas
    return attribute_profile(
        population,
        attributes=attributes,
        min_support=personas.min_support,
        min_lift=personas.min_lift,
        min_people=personas.min_people,
    )


def _rows(profile: pl.DataFrame, kind: str) -> pl.DataFrame:
    return profile.select(
        pl.lit(PERSONA_ID).alias("persona_id"), pl.lit(kind).alias("kind"), *PROFILE_COLUMNS
    )


@task(name="profile", cache_policy=NO_CACHE)
def profile(
    computed: Computed, inputs: ValidatedInputs, settings: Settings, as_of: date
) -> Profiles:
    """Company profile, buyer persona, target profile, persona card and lead scores."""
    notes: list[str] = []
    with _timed("profile") as facts:
        extras = settings.sources["customers"].extra_columns if inputs.customers is not None else ()
        company_attributes = (*settings.personas.company_attributes, *extras)
        customers = _with_bands(
            computed.customers.lazy().rename({"is_best_customer": "is_best"}), settings
        )
        company = _profile(customers, company_attributes, settings).collect()
        best_ids = computed.customers.lazy().filter("is_best_customer").select("customer_id")

        buyer = pl.DataFrame(schema=company.schema)
        decision_makers = 0
        if inputs.contacts is not None:
            contacts = normalise_titles(inputs.contacts)
            if "is_decision_maker" in contacts.collect_schema().names():
                contacts = contacts.filter(pl.col("is_decision_maker").fill_null(False))
            contacts = contacts.join(
                computed.customers.lazy().select("customer_id", is_best="is_best_customer"),
                on="customer_id",
            )
            people = _with_bands(_with_age(contacts, as_of), settings)
            buyer = _profile(people, settings.personas.buyer_attributes, settings).collect()
            decision_makers = people.filter("is_best").select(pl.len()).collect().item()
        else:
            notes.append("no contacts source: buyer persona skipped")

        target = target_profile(company.lazy(), buyer.lazy()).collect()
        personas_table = pl.concat(
            [
                _rows(company, "company"),
                _rows(buyer, "buyer"),
                _rows(target.drop("source"), "target"),
            ]
        )
        card = _card(computed, inputs, target, best_ids, decision_makers, settings)
        tables = {"personas": personas_table, "persona_cards": card}
        auc = None
        if inputs.leads is not None:
            leads = _with_bands(inputs.leads, settings)
            scores = lead_scores(
                leads,
                target.lazy(),
                persona_id=PERSONA_ID,
                threshold=settings.personas.lead_fit_threshold,
            )
            scores_frame, auc_frame = pl.collect_all([scores, conversion_auc(scores, leads)])
            tables["lead_scores"] = scores_frame
            auc = auc_frame["auc"].item()
            facts["leads"] = scores_frame.height
        else:
            tables["lead_scores"] = pl.DataFrame(
                schema={
                    "lead_id": pl.String,
                    "fit_score": pl.Float64,
                    "is_target": pl.Boolean,
                    "matched_persona_id": pl.String,
                    "matched_attributes": pl.String,
                }
            )
            notes.append("no leads source: lead scoring skipped")
        facts["profile rows"] = personas_table.height
    return Profiles(tables=tables, notes=notes, lead_score_auc=auc)


def _with_age(frame: pl.LazyFrame, as_of: date) -> pl.LazyFrame:
    names = frame.collect_schema().names()
    if "birth_date" not in names:
        return frame
    derived = age_at(pl.col("birth_date"), as_of)
    age = pl.coalesce(pl.col("age"), derived) if "age" in names else derived
    return frame.with_columns(age=age)


def _card(
    computed: Computed,
    inputs: ValidatedInputs,
    target: pl.DataFrame,
    best_ids: pl.LazyFrame,
    decision_makers: int,
    settings: Settings,
) -> pl.DataFrame:
    best = int(computed.customers["is_best_customer"].sum())
    if inputs.feedback is not None:
        feedback = inputs.feedback.join(best_ids, on="customer_id", how="semi")
        answers = top_values(feedback, fields=FEEDBACK_FIELDS).collect()
        quote = representative_quote(feedback).collect()
    else:
        answers = pl.DataFrame(
            {f: [None] for f in FEEDBACK_FIELDS}, schema=dict.fromkeys(FEEDBACK_FIELDS, pl.String)
        )
        quote = pl.DataFrame(schema={"quote": pl.String, "quote_customer_id": pl.String})
    channels = target.filter(pl.col("attribute") == "preferred_channel")
    return pl.DataFrame(
        {
            "persona_id": [PERSONA_ID],
            "name": [persona_name(target)],
            "key_tier": [computed.key_tier],
            "goal": [settings.personas.goal],
            "best_basis": [computed.best_basis],
            "best_customers": [best],
            "decision_makers": [decision_makers],
            "goals": [answers["goal"].item()],
            "pain_points": [answers["pain_point"].item()],
            "motivations": [answers["motivation"].item()],
            "info_sources": [answers["info_source"].item()],
            "preferred_channels": [
                "; ".join(
                    f"{v} ({s:.0%})" for v, s in channels.select("value", "support").iter_rows()
                )
                or None
            ],
            "quote": [quote["quote"].item() if quote.height else None],
        },
        schema_overrides={"best_customers": pl.Int64, "decision_makers": pl.Int64},
    )


TRANSITION_BASES = (
    ("tier", "tier"),
    ("rfm", "rfm_segment"),
    *((base, f"{base}_segment") for base in BASES),
)


@task(name="segment movement", cache_policy=NO_CACHE)
def transitions(computed: Computed, settings: Settings, refresh_id: str) -> pl.DataFrame:
    """Moves between segments since the last published refresh other than this one."""
    with _timed("segment movement") as facts:
        previous = _previous_segments(settings, refresh_id)
        moves = segment_transitions(
            previous.lazy() if previous is not None else None,
            computed.tables["customer_segments"].lazy(),
            bases=TRANSITION_BASES,
        ).collect()
        facts["rows"] = moves.height
    return moves


def _previous_segments(settings: Settings, refresh_id: str) -> pl.DataFrame | None:
    columns = ["customer_id", "revenue", *(column for _, column in TRANSITION_BASES)]
    with open_warehouse(settings) as warehouse:
        try:
            return warehouse.previous_refresh("customer_segments", columns, refresh_id)
        except WarehouseError:
            return None
        except sa.exc.SQLAlchemyError:
            return None
