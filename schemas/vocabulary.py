"""The fixed words of the published tables: the values their contracts allow.

Produces the tier names, Pareto classes, segmentation bases, the bases of
segment movement, persona kinds, persona goals, quarantine actions, source names and the
customer-value models, each spelled once. The transforms write these words and the table
specs (`warehouse.tables`) declare them as the allowed values of their
columns; this module imports nothing, so both can read it.
"""

from __future__ import annotations

TIERS: tuple[str, str, str] = ("Large", "Medium", "Small")
PARETO_CLASSES = ("A", "B", "C")
BASES: tuple[str, ...] = ("demographic", "geographic", "psychographic", "behavioural")
# segment movement is counted on the tier, the RFM segment and every base
TRANSITION_BASE_NAMES: tuple[str, ...] = ("tier", "rfm", *BASES)
PERSONA_KINDS = ("company", "buyer", "target", "purchase")
GOALS: tuple[str, ...] = ("growth", "profit", "loyalty")
REJECTED = "row rejected"
CLEARED = "value cleared"
QUARANTINE_ACTIONS = (REJECTED, CLEARED)
SOURCES = ("orders", "customers", "contacts", "products", "leads", "feedback")
# the customer-value models of `clv_model`: purchases and P(alive), spend, the holdout check
CLV_MODELS = ("bg_nbd", "gamma_gamma", "holdout")
# how a customers record was resolved to its customer (`customer_identity.match_rule`)
MATCH_RULES = ("self", "tax_code", "email", "phone", "force_merge", "probabilistic")
