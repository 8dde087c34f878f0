"""The persona stage: profiles, persona card, lead scores, segment movement.

Each stage takes the frames computed before it and returns the tables it adds:
`personas` (company / buyer / target attribute rows), `persona_cards`,
`lead_scores` and `segment_transitions`, plus facts for the run record
(lead-scoring AUC, which sources were missing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import polars as pl

from config.settings import Settings
from pipeline.stages import (
    PERSONA_ID,
    Computed,
    ValidatedInputs,
    banded,
    choose_best_customers,
    company_attributes,
    in_groups,
    timed,
)
from schemas.vocabulary import GOALS, TIERS
from sources.buckets import by_customer, keeper
from transforms.leads import conversion_auc, lead_scores
from transforms.persona_cards import (
    purchase_habits,
    representative_quote,
    top_purchases,
    top_values,
)
from transforms.profiles import (
    controlled,
    normalise_titles,
    persona_name,
    scored_purchases,
    scored_values,
    target_profile,
    title_ladder,
)
from transforms.segmentation import with_age
from transforms.transitions import TRANSITION_BASES, segment_transitions

PROFILE_COLUMNS = [
    "attribute",
    "value",
    "support",
    "lift",
    "customers",
    "population_share",
    "ci_low",
    "ci_high",
    "p_value",
    "q_value",
    "is_distinguishing",
]
FEEDBACK_FIELDS = ("goal", "pain_point", "motivation", "info_source")


@dataclass
class Profiles:
    """The persona stage's tables and what the run record should say about them."""

    tables: dict[str, pl.DataFrame]
    notes: list[str] = field(default_factory=list)
    lead_score_auc: float | None = None


def _controlled(profiles: list[pl.DataFrame], settings: Settings) -> list[pl.DataFrame]:
    """Company, buyer and purchase values judged as one family (one false-discovery
    control)."""
    personas = settings.personas
    return controlled(
        profiles,
        min_support=personas.min_support,
        min_lift=personas.min_lift,
        min_people=personas.min_people,
        false_discovery_rate=personas.false_discovery_rate,
    )


def _rows(persona_id: str, profile: pl.DataFrame, kind: str) -> pl.DataFrame:
    return profile.select(
        pl.lit(persona_id).alias("persona_id"), pl.lit(kind).alias("kind"), *PROFILE_COLUMNS
    )


@dataclass(frozen=True)
class _Persona:
    rows: pl.DataFrame
    card: pl.DataFrame
    target: pl.DataFrame


LEAD_SCORE_SCHEMA = {
    "lead_id": pl.String,
    "fit_score": pl.Float64,
    "is_target": pl.Boolean,
    "matched_persona_id": pl.String,
    "matched_attributes": pl.String,
}


def profile(
    computed: Computed, inputs: ValidatedInputs, settings: Settings, as_of: date
) -> Profiles:
    """Company profile, buyer persona, target profile, persona card(s) and lead scores."""
    notes: list[str] = []
    with timed("profile") as facts, in_groups(inputs, settings):
        if inputs.contacts is None:
            notes.append("no contacts source: buyer persona skipped")
        main = _persona(
            PERSONA_ID,
            computed.customers.select("customer_id", is_best="is_best_customer"),
            tier=computed.key_tier,
            goal=settings.personas.goal,
            basis=computed.best_basis,
            computed=computed,
            inputs=inputs,
            settings=settings,
            as_of=as_of,
        )
        personas = [main, *_compared_personas(computed, inputs, settings, as_of)]
        decision = computed.tiering.decision
        notes.insert(0, f"key tier {decision.key_tier} ({decision.decided_by}): {decision.reason}")
        notes += [
            f"persona {persona_id}: {note}"
            for persona in personas
            for persona_id, note in persona.card.select("persona_id", "profile_note").rows()
            if note
        ]
        tables = {
            "personas": pl.concat([persona.rows for persona in personas]),
            "persona_cards": pl.concat([persona.card for persona in personas]),
        }
        auc = None
        if inputs.leads is not None:
            leads = banded(inputs.leads, settings)
            scores = lead_scores(
                leads,
                main.target.lazy(),
                persona_id=PERSONA_ID,
                threshold=settings.personas.lead_fit_threshold,
            )
            scores_frame, auc_frame = pl.collect_all([scores, conversion_auc(scores, leads)])
            tables["lead_scores"] = scores_frame
            auc = auc_frame["auc"].item()
            facts["leads"] = scores_frame.height
        else:
            tables["lead_scores"] = pl.DataFrame(schema=LEAD_SCORE_SCHEMA)
            notes.append("no leads source: lead scoring skipped")
        facts["personas"] = len(personas)
        facts["profile rows"] = tables["personas"].height
    return Profiles(tables=tables, notes=notes, lead_score_auc=auc)


def _compared_personas(
    computed: Computed, inputs: ValidatedInputs, settings: Settings, as_of: date
) -> list[_Persona]:
    """One more persona per tier or per goal, when `[personas] compare_by` asks for it."""
    compare_by = settings.personas.compare_by
    if compare_by == "none":
        return []
    if compare_by == "tier":
        choices = [(f"P-{tier}", tier, settings.personas.goal) for tier in TIERS]
    else:
        choices = [(f"P-{goal}", computed.key_tier, goal) for goal in GOALS]
    personas = []
    for persona_id, tier, goal in choices:
        chosen = choose_best_customers(
            computed.customers.lazy().drop(
                "is_best_customer", "best_measure", "best_basis", "key_tier_revenue"
            ),
            computed.tiering.purchase_groups,
            computed.lead_days,
            settings,
            key_tier=tier,
            goal=goal,
        ).collect()
        if not chosen["is_best_customer"].any():
            continue  # an empty tier has no best customers to describe
        personas.append(
            _persona(
                persona_id,
                chosen.select("customer_id", is_best="is_best_customer"),
                tier=tier,
                goal=goal,
                basis=chosen["best_basis"][0],
                computed=computed,
                inputs=inputs,
                settings=settings,
                as_of=as_of,
            )
        )
    return personas


def _persona(
    persona_id: str,
    best: pl.DataFrame,
    *,
    tier: str,
    goal: str,
    basis: str,
    computed: Computed,
    inputs: ValidatedInputs,
    settings: Settings,
    as_of: date,
) -> _Persona:
    """Profiles and card of the customers flagged `is_best` in `best`."""
    customers = banded(
        computed.customers.lazy()
        .drop("is_best_customer")
        .join(best.lazy(), on="customer_id", how="left")
        .with_columns(pl.col("is_best").fill_null(False)),
        settings,
    )
    attributes = company_attributes(settings, inputs)
    company = scored_values(customers, attributes=attributes).collect()
    buyer = pl.DataFrame(schema=company.schema)
    decision_makers = 0
    if inputs.contacts is not None:
        personas_settings = settings.personas
        contacts = normalise_titles(
            inputs.contacts,
            title_ladder(personas_settings.title_ladder, personas_settings.title_levels),
        )
        if "is_decision_maker" in contacts.collect_schema().names():
            contacts = contacts.filter(pl.col("is_decision_maker").fill_null(False))
        people = banded(
            with_age(contacts.join(best.lazy(), on="customer_id"), as_of=as_of), settings
        )
        buyer = scored_values(people, attributes=settings.personas.buyer_attributes).collect()
        decision_makers = people.filter("is_best").select(pl.len()).collect().item()
    # Spilled lines: the products each customer bought are found a bucket at a time and
    # counted a group of customers at a time.
    purchased = scored_purchases(
        customers,
        computed.line_parts or computed.tiering.lines,
        products=inputs.products,
        regroup=by_customer(inputs.spilled, len(computed.line_parts)),
        keep=keeper(inputs.spilled),
    ).collect()
    company, buyer, purchased = _controlled([company, buyer, purchased], settings)
    best_count = int(best["is_best"].sum())
    minimum = settings.personas.min_best_customers
    note = (
        f"too few best customers to profile (n = {best_count}, minimum {minimum})"
        if best_count < minimum
        else None
    )
    target = target_profile(company.lazy(), buyer.lazy()).collect()
    rows = pl.concat(
        [
            _rows(persona_id, company, "company"),
            _rows(persona_id, buyer, "buyer"),
            _rows(persona_id, target.drop("source"), "target"),
            _rows(persona_id, purchased, "purchase"),
        ]
    )
    card = _card(
        persona_id,
        name=persona_name(target),
        tier=tier,
        goal=goal,
        basis=basis,
        best_customers=best_count,
        decision_makers=decision_makers,
        profile_note=note,
        feedback=inputs.feedback,
        best_ids=best.lazy().filter("is_best").select("customer_id"),
        target=target,
        habits=purchase_habits(
            computed.tiering.order_groups, customers, keep=keeper(inputs.spilled)
        )
        .with_columns(top_purchases=pl.lit(top_purchases(purchased), pl.String))
        .collect(),
    )
    return _Persona(rows=rows, card=card, target=target)


CARD_TEXT_COLUMNS = (
    "profile_note",
    "goals",
    "pain_points",
    "motivations",
    "info_sources",
    "preferred_channels",
    "quote",
)


def _card(
    persona_id: str,
    *,
    name: str,
    tier: str,
    goal: str,
    basis: str,
    best_customers: int,
    decision_makers: int,
    profile_note: str | None,
    feedback: pl.LazyFrame | None,
    best_ids: pl.LazyFrame,
    target: pl.DataFrame,
    habits: pl.DataFrame,
) -> pl.DataFrame:
    if feedback is not None:
        answers_of_best = feedback.join(best_ids, on="customer_id", how="semi")
        answers = top_values(answers_of_best, fields=FEEDBACK_FIELDS).collect()
        quote = representative_quote(answers_of_best).collect()
    else:
        answers = pl.DataFrame(
            {f: [None] for f in FEEDBACK_FIELDS}, schema=dict.fromkeys(FEEDBACK_FIELDS, pl.String)
        )
        quote = pl.DataFrame(schema={"quote": pl.String, "quote_customer_id": pl.String})
    channels = target.filter(pl.col("attribute") == "preferred_channel")
    card = pl.DataFrame(
        {
            "persona_id": [persona_id],
            "name": [name],
            "key_tier": [tier],
            "goal": [goal],
            "best_basis": [basis],
            "best_customers": [best_customers],
            "decision_makers": [decision_makers],
            "profile_note": [profile_note],
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
        # Text columns built from None when there is no feedback would otherwise be Null.
        schema_overrides={
            "best_customers": pl.Int64,
            "decision_makers": pl.Int64,
            **{c: pl.String for c in CARD_TEXT_COLUMNS},
        },
    )
    return pl.concat([card, habits], how="horizontal")


def transitions(computed: Computed, previous: pl.DataFrame | None) -> pl.DataFrame:
    """Moves between segments since `previous`, the customer_segments of the refresh this
    one is compared with (the latest of an earlier as_of); empty on a first refresh."""
    with timed("segment movement") as facts:
        moves = segment_transitions(
            previous.lazy() if previous is not None else None,
            computed.tables["customer_segments"].lazy(),
            bases=TRANSITION_BASES,
        ).collect()
        facts["rows"] = moves.height
    return moves
