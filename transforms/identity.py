"""One customer across records: which customers records are the same customer.

Produces `resolve_identities` (grain of its `identity`: one record of the customers
source): every record's resolved `customer_id`, the rule that merged it and the
size of its customer, from exact matches on normalised keys:

- the configured keys in order (`tax_code`, `email`, `phone`): two records with
  the same non-empty value are one customer. Tax codes are compared upper-cased
  without spaces, dots or dashes; e-mails and phone numbers were brought to one
  form (lower case, E.164) and hashed as they were read, so equal hashes are
  equal contacts and nobody's contact data is read here;
- `force_merge` groups: one customer whatever their keys;
- `never_merge` pairs: when the links put both records in one customer, the
  second of the pair is cut loose (it keeps its own id), and the rest are linked
  again without it.

Merging is transitive (A shares a tax code with B, B a phone with C: one
customer), computed as the connected components of the links (scipy). A merged
customer keeps the smallest customer_id of its records (text order) and, for
each attribute, the value of the first of its records that has one, that id's
record first. `apply_identities` rewrites the customer ids of every source to
the resolved ones, so every figure downstream counts the customer once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

IDENTITY_SCHEMA = {
    "source": pl.String,
    "source_id": pl.String,
    "customer_id": pl.String,
    "match_rule": pl.String,
    "match_probability": pl.Float64,
    "records": pl.Int64,
}
REVIEW_SCHEMA = {
    "left_id": pl.String,
    "right_id": pl.String,
    "match_probability": pl.Float64,
    "left_customer_id": pl.String,
    "right_customer_id": pl.String,
}
# The customers columns the probabilistic model compares, besides the keys.
MATCHED_ON = ("name", "address", "city", "tax_code", "email", "phone")
# Keys a shared value of which the model may overrule (`ruled_out`): contacts are shared
# by offices and families; a tax code is one company's.
CHECKED_KEYS = ("email", "phone")
_NO_PAIRS = pl.DataFrame(schema={"a": pl.Int64, "b": pl.Int64})
SELF = "self"
FORCED = "force_merge"
PROBABLE = "probabilistic"


@dataclass(frozen=True)
class Identities:
    """The resolution: one row per customers record (IDENTITY_SCHEMA) and run notes."""

    identity: pl.DataFrame
    notes: list[str]

    @property
    def labels(self) -> pl.DataFrame:
        """customer_id, same_customer: the customer of each record merged with another
        (null for a record on its own), as a model of matches learns from it."""
        return self.identity.select(
            pl.col("source_id").alias("customer_id"),
            same_customer=pl.when(pl.col("records") > 1).then(pl.col("customer_id")),
        )

    @property
    def mapping(self) -> pl.DataFrame:
        """source_id → customer_id, for the records merged into another id."""
        return self.identity.filter(pl.col("source_id") != pl.col("customer_id")).select(
            "source_id", "customer_id"
        )


def normalised_key(name: str) -> pl.Expr:
    """The value two records must share to be one customer by the key `name`."""
    value = pl.col(name).cast(pl.String).str.strip_chars()
    if name == "tax_code":
        value = value.str.to_uppercase().str.replace_all(r"[\s.\-]", "")
    return pl.when(value != "").then(value)


def resolve_identities(
    customers: pl.DataFrame,
    *,
    keys: Sequence[str],
    force_merge: Sequence[Sequence[str]] = (),
    never_merge: Sequence[tuple[str, str]] = (),
    probable: pl.DataFrame | None = None,
    ruled_out: pl.DataFrame | None = None,
    checked: Sequence[str] = CHECKED_KEYS,
) -> Identities:
    """Which records of `customers` (customer_id and the key columns) are one customer.

    `probable`: pairs the probabilistic model merges (left_id, right_id, probability at
    or above the match threshold), linked after the exact keys. `ruled_out`: pairs
    (left_id, right_id) sharing a `checked` key that the model found different in
    everything else: the key does not link them, and nothing else may join them either
    (like a never_merge pair); a pair that also shares an unchecked key (a tax code: one
    company, one code) is not ruled out."""
    ids = customers["customer_id"].sort()
    position = {value: index for index, value in enumerate(ids.to_list())}
    present = [key for key in keys if key in customers.columns]
    indexed = customers.select(
        pl.col("customer_id").replace_strict(position, return_dtype=pl.Int64).alias("node"),
        *(normalised_key(key).alias(key) for key in present),
    )
    apart = _ruled_out_nodes(ruled_out, position)
    for key in (key for key in present if key not in checked):
        # sharing an unchecked key overrules the model: not apart
        shared = apart.join(indexed.select("node", key), left_on="a", right_on="node").join(
            indexed.select("node", key), left_on=["b", key], right_on=["node", key]
        )
        apart = apart.join(shared.select("a", "b"), on=["a", "b"], how="anti")
    links = [_key_links(indexed, key, apart if key in checked else _NO_PAIRS) for key in present]
    forced = [[position[i] for i in group if i in position] for group in force_merge]
    links.append(_group_links(forced, FORCED))
    exact = pl.concat(links).with_columns(probability=pl.lit(1.0))
    if probable is not None and not probable.is_empty():
        exact = pl.concat([exact, _probable_links(probable, position)])
    never = [(position[a], position[b]) for a, b in never_merge if a in position and b in position]
    # a ruled-out pair is kept apart as a never_merge pair is: by its key or by any other link
    never += apart.sort("a", "b").rows()
    labels, edges = _components_honouring(exact, ids.len(), never)
    identity = _identity_rows(ids, labels, edges, rules=[*present, FORCED, PROBABLE])
    merged = identity.filter(pl.col("source_id") != pl.col("customer_id"))
    counts = merged.group_by("match_rule").len().sort("match_rule").rows()
    customers_after = identity["customer_id"].n_unique()
    notes = [
        f"identity: {ids.len():,} customer records are {customers_after:,} customers "
        f"({merged.height:,} records merged"
        + ("" if not counts else " into another: " + ", ".join(f"{r} {n:,}" for r, n in counts))
        + ")"
    ]
    return Identities(identity, notes)


def without_shared_keys(
    records: pl.DataFrame, keys: Sequence[str], limit: int
) -> tuple[pl.DataFrame, list[str]]:
    """`records` with each key value held by more than `limit` records blanked (a
    switchboard's phone, a shop's e-mail: no one customer's key), and the run notes
    counting them."""
    notes = []
    for key in (key for key in keys if key in records.columns):
        count = pl.len().over(normalised_key(key))
        crowded = normalised_key(key).is_not_null() & (count > limit)
        found = records.select(
            values=normalised_key(key).filter(crowded).n_unique(), rows=crowded.sum()
        ).row(0)
        if found[0]:
            notes.append(
                f"identity: {found[0]:,} {key} value(s) held by more than {limit} records "
                f"({found[1]:,} records) link nothing"
            )
            records = records.with_columns(pl.when(~crowded).then(pl.col(key)).alias(key))
    return records, notes


def _key_links(indexed: pl.DataFrame, key: str, apart: pl.DataFrame) -> pl.DataFrame:
    """Each record with a value of `key` linked to the first record (lowest id) sharing it:
    a star per value, enough to connect them, never every pair. A value shared by a pair
    kept `apart` (nodes a < b) links every other pair of its records instead, so the
    pair's records keep their other links (the never constraint then cuts a record
    loose only where another path still joins the pair)."""
    valued = indexed.filter(pl.col(key).is_not_null()).select("node", key)
    star = (
        valued.with_columns(first=pl.col("node").min().over(key))
        .filter(pl.col("node") != pl.col("first"))
        .select(pl.col("first").alias("a"), pl.col("node").alias("b"), rule=pl.lit(key))
    )
    if apart.is_empty():
        return star
    pairs = valued.join(valued, on=key, suffix="_b").filter(pl.col("node") < pl.col("node_b"))
    disputed = pairs.join(apart, left_on=["node", "node_b"], right_on=["a", "b"]).select(key)
    group_pairs = pairs.join(disputed.unique(), on=key).select(
        pl.col("node").alias("a"), pl.col("node_b").alias("b")
    )
    return pl.concat(
        [
            star.join(valued, left_on="a", right_on="node")
            .join(disputed.unique(), on=key, how="anti")
            .select("a", "b", "rule"),
            group_pairs.join(apart, on=["a", "b"], how="anti").with_columns(rule=pl.lit(key)),
        ]
    )


def _ruled_out_nodes(ruled_out: pl.DataFrame | None, position: dict[str, int]) -> pl.DataFrame:
    """The ruled-out pairs as node pairs, the smaller node first (a, b)."""
    if ruled_out is None or ruled_out.is_empty():
        return _NO_PAIRS
    nodes = ruled_out.select(
        *(
            pl.col(side).replace_strict(position, default=None, return_dtype=pl.Int64)
            for side in ("left_id", "right_id")
        )
    ).drop_nulls()
    return nodes.select(
        a=pl.min_horizontal("left_id", "right_id"), b=pl.max_horizontal("left_id", "right_id")
    ).unique()


def _probable_links(pairs: pl.DataFrame, position: dict[str, int]) -> pl.DataFrame:
    return pairs.select(
        a=pl.col("left_id").replace_strict(position, return_dtype=pl.Int64),
        b=pl.col("right_id").replace_strict(position, return_dtype=pl.Int64),
        rule=pl.lit(PROBABLE),
        probability=pl.col("probability").cast(pl.Float64),
    )


def _group_links(groups: list[list[int]], rule: str) -> pl.DataFrame:
    """Each group's records linked to its first."""
    pairs = [(group[0], other) for group in groups for other in group[1:]]
    return pl.DataFrame(pairs, schema={"a": pl.Int64, "b": pl.Int64}, orient="row").with_columns(
        rule=pl.lit(rule)
    )


def _components_honouring(
    edges: pl.DataFrame, nodes: int, never: list[tuple[int, int]]
) -> tuple[np.ndarray, pl.DataFrame]:
    """Connected components of `edges`; while a never-merge pair shares one, the pair's
    second record loses its links (a handful of rounds: one per pair at most)."""
    first = np.array([a for a, _ in never], dtype=np.int64)
    second = np.array([b for _, b in never], dtype=np.int64)
    for _ in range(len(never) + 1):
        labels = _components(edges, nodes)
        cut = np.unique(second[labels[first] == labels[second]])
        if not len(cut):
            return labels, edges
        edges = edges.filter(~pl.col("a").is_in(cut) & ~pl.col("b").is_in(cut))
    return _components(edges, nodes), edges


def _components(edges: pl.DataFrame, nodes: int) -> np.ndarray:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    a, b = edges["a"].to_numpy(), edges["b"].to_numpy()
    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(nodes, nodes))
    return connected_components(graph, directed=False)[1]


def _identity_rows(
    ids: pl.Series, labels: np.ndarray, edges: pl.DataFrame, *, rules: list[str]
) -> pl.DataFrame:
    """One row per record: its customer (the component's smallest id, as the ids are
    sorted), the first rule in `rules` order of a link that touches it, and the size."""
    order = {rule: index for index, rule in enumerate(rules)}
    touching = (
        pl.concat(
            [
                edges.select(node="a", rule="rule", probability="probability"),
                edges.select(node="b", rule="rule", probability="probability"),
            ]
        )
        .with_columns(rank=pl.col("rule").replace_strict(order, return_dtype=pl.Int64))
        .group_by("node")
        .agg(
            pl.col("rule").sort_by("rank").first(),
            # the surest link of the rule that merged it
            pl.col("probability").sort_by("rank", -pl.col("probability")).first(),
        )
    )
    frame = pl.DataFrame(
        {"node": np.arange(ids.len()), "source_id": ids, "component": labels}
    ).with_columns(
        customer_id=pl.col("source_id").first().over("component"),
        records=pl.len().over("component").cast(pl.Int64),
    )
    return (
        frame.join(touching, on="node", how="left")
        .select(
            source=pl.lit("customers"),
            source_id="source_id",
            customer_id="customer_id",
            match_rule=pl.when(pl.col("records") > 1)
            .then(pl.col("rule").fill_null(SELF))
            .otherwise(pl.lit(SELF)),
            match_probability=pl.when(pl.col("records") > 1).then(
                pl.col("probability").fill_null(1.0)
            ),
            records="records",
        )
        .sort("source_id")
        .cast(IDENTITY_SCHEMA)  # type: ignore[arg-type]
    )


# The columns of each source that name a customer of the customers source.
CUSTOMER_COLUMNS = {
    "orders": "customer_id",
    "contacts": "customer_id",
    "feedback": "customer_id",
    "leads": "converted_customer_id",
}


def merged_customers(customers: pl.LazyFrame, identities: Identities) -> pl.LazyFrame:
    """One row per resolved customer: each attribute from the first of its records that
    has one (the record whose id it keeps first, then by id)."""
    resolved = customers.join(
        identities.identity.lazy().select(
            pl.col("source_id").alias("customer_id"), pl.col("customer_id").alias("_resolved")
        ),
        on="customer_id",
        how="left",
    ).with_columns(pl.col("_resolved").fill_null(pl.col("customer_id")))
    attributes = [c for c in customers.collect_schema().names() if c != "customer_id"]
    return (
        resolved.sort("_resolved", pl.col("customer_id") != pl.col("_resolved"), "customer_id")
        .group_by("_resolved", maintain_order=True)
        .agg(pl.col(c).drop_nulls().first() for c in attributes)
        .rename({"_resolved": "customer_id"})
    )


def with_resolved_ids(frame: pl.LazyFrame, column: str, identities: Identities) -> pl.LazyFrame:
    """`frame` with its customer ids in `column` replaced by the resolved ones."""
    mapping = identities.mapping
    if mapping.is_empty():
        return frame
    return frame.with_columns(pl.col(column).replace(mapping["source_id"], mapping["customer_id"]))


def review_pairs(
    pairs: pl.DataFrame | None, identities: Identities, *, below: float
) -> pl.DataFrame:
    """The scored pairs below the match threshold whose records were not resolved to one
    customer anyway (REVIEW_SCHEMA), surest first: for a person to merge (force_merge)
    or keep apart (never_merge)."""
    if pairs is None:
        return pl.DataFrame(schema=REVIEW_SCHEMA)
    customer = identities.identity.select("source_id", "customer_id")
    return (
        pairs.filter(pl.col("probability") < below)
        .join(
            customer.rename({"source_id": "left_id", "customer_id": "left_customer_id"}),
            on="left_id",
        )
        .join(
            customer.rename({"source_id": "right_id", "customer_id": "right_customer_id"}),
            on="right_id",
        )
        .filter(pl.col("left_customer_id") != pl.col("right_customer_id"))
        .select(
            "left_id",
            "right_id",
            pl.col("probability").alias("match_probability"),
            "left_customer_id",
            "right_customer_id",
        )
        .sort("match_probability", "left_id", "right_id", descending=[True, False, False])
    )
