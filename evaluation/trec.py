"""TREC exports of a run for outside tools (trec_eval, pytrec_eval, ranx), as pure functions.

- **qrels**: ``<query id> 0 <product id> <relevance>`` per judged slot, the slot's aggregated grade
  mapped by ``GRADE_RELEVANCE`` (docs/METRICS.md, "TREC exports").
- **run file**: ``<query id> Q0 <product id> <rank> <score> <tag>`` per retrieved candidate.

Query ids are ``q<query object id>`` and document ids ``p<product id>``, so the two files of one run
join on both. With ``relevance_level = 2`` (similar or better) trec_eval's P@k is our Similar P@k
and with 3 our Extremely Similar P@k, over the run's judged query objects that have candidates.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator

import pandas as pd

# Graded relevance, best to worst. did_not_load says nothing about similarity, but our metrics count
# such a slot as not relevant, so it is 0 here too (the query keeps its place in the qrels).
GRADE_RELEVANCE: dict[str, int] = {
    "extremely_similar": 3,
    "similar": 2,
    "marginally_similar": 1,
    "not_similar": 0,
    "did_not_load": 0,
}
SIMILAR_RELEVANCE_LEVEL = 2
EXTREMELY_SIMILAR_RELEVANCE_LEVEL = 3
RUN_TAG_MAX_LENGTH = 40
UNMAPPED_GRADE_ERROR = "grade {grade!r} has no TREC relevance; expected one of " + ", ".join(GRADE_RELEVANCE)


def trec_query_id(query_object_id: int) -> str:
    return f"q{int(query_object_id)}"


def trec_document_id(product_id: int) -> str:
    return f"p{int(product_id)}"


def qrels_lines(slot_grades: pd.DataFrame, candidates: pd.DataFrame) -> Iterator[str]:
    """qrels lines from one aggregated grade per (query object, slot) and the run's candidates.

    ``slot_grades``: ``query_object_id``, ``slot``, ``grade`` (``metrics.aggregate_slot_grades``);
    ``candidates``: ``query_object_id``, ``rank``, ``product_id``. Ordered by query and rank.
    """
    joined = slot_grades.merge(candidates, left_on=["query_object_id", "slot"],
                               right_on=["query_object_id", "rank"], how="inner")
    joined = joined.sort_values(["query_object_id", "rank"])
    for query_object_id, product_id, grade in zip(joined["query_object_id"], joined["product_id"], joined["grade"]):
        if grade not in GRADE_RELEVANCE:
            raise ValueError(UNMAPPED_GRADE_ERROR.format(grade=grade))
        yield f"{trec_query_id(query_object_id)} 0 {trec_document_id(product_id)} {GRADE_RELEVANCE[grade]}\n"


def run_lines(candidates: pd.DataFrame, *, tag: str) -> Iterator[str]:
    """Run-file lines of the run's retrieved candidates, ranked as retrieval ranked them.

    trec_eval orders by score, not by the rank column, so the score falls with rank (k + 1 - rank)."""
    tag = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in tag)[:RUN_TAG_MAX_LENGTH] or "run"
    ordered = candidates.sort_values(["query_object_id", "rank"])
    deepest = int(ordered["rank"].max()) if len(ordered) else 0
    for query_object_id, rank, product_id in zip(ordered["query_object_id"], ordered["rank"], ordered["product_id"]):
        yield (f"{trec_query_id(query_object_id)} Q0 {trec_document_id(product_id)} {int(rank)} "
               f"{deepest + 1 - int(rank)} {tag}\n")


def qrels_dict(lines: Iterable[str]) -> dict[str, dict[str, int]]:
    """Parse qrels lines into pytrec_eval's nested dict: query -> document -> relevance."""
    parsed: dict[str, dict[str, int]] = {}
    for fields in (line.split() for line in lines):
        if fields:
            query, _, document, value = fields
            parsed.setdefault(query, {})[document] = int(value)
    return parsed


def run_dict(lines: Iterable[str]) -> dict[str, dict[str, float]]:
    """Parse run-file lines into pytrec_eval's nested dict: query -> document -> score."""
    parsed: dict[str, dict[str, float]] = {}
    for fields in (line.split() for line in lines):
        if fields:
            query, _, document, _, score, _ = fields
            parsed.setdefault(query, {})[document] = float(score)
    return parsed
