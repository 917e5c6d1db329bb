"""Offline retrieval and attribute metrics (seed, Tables 5 and 6): pure functions on arrays.

Every query object has one true product id. Its rank is the number of corpus entries that come
strictly before the true product: a smaller distance, or the same distance and a smaller id (ties
are broken by id, so results never depend on corpus order). A query whose true product is not in
the corpus has no rank and counts as a miss. Retrieval P@1 is the share of queries ranked 0; the
top-K accuracy curve holds, for K = 1..K_max, the share ranked below K.

Counting "entries strictly better than the true product" gives the exact rank without sorting or
a top-k cut, so the result does not depend on how a top-k search orders equal distances.

Packed binary codes (``uint8 [n, bits/8]``) are compared by Hamming distance, float embeddings by
negative dot product (cosine distance for L2-normalised embeddings).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

# Rank given to a query whose true product is absent from the corpus: worse than any real rank.
ABSENT_RANK = np.iinfo(np.int64).max

ERROR_QUERY_IDS_LENGTH = "query_ids must hold one true product id per query"
ERROR_CORPUS_IDS_LENGTH = "corpus_ids must hold one id per corpus entry"
ERROR_MIXED_KINDS = "queries and corpus must both be packed uint8 codes or both float embeddings"
ERROR_WIDTH_MISMATCH = "queries and corpus must have the same code length / embedding dimension"
ERROR_K_MAX = "k_max must be at least 1"
ERROR_ATTRIBUTE_LENGTH = "predicted and true values of attribute {name!r} differ in length"

_CHUNK_ELEMENTS = 1 << 24  # distance-matrix cells per chunk: bounds memory at ~130 MB


def _is_codes(array: np.ndarray) -> bool:
    return array.dtype == np.uint8


def _as_words(codes: np.ndarray) -> np.ndarray:
    """View packed codes as 64-bit words (zero-padded to a multiple of 8 bytes) for popcount."""
    codes = np.ascontiguousarray(codes, dtype=np.uint8)
    pad = (-codes.shape[1]) % 8
    if pad:
        codes = np.concatenate([codes, np.zeros((codes.shape[0], pad), np.uint8)], axis=1)
    return codes.view(np.uint64)


def _validate(queries: np.ndarray, query_ids: np.ndarray, corpus: np.ndarray,
              corpus_ids: np.ndarray) -> None:
    if len(query_ids) != len(queries):
        raise ValueError(ERROR_QUERY_IDS_LENGTH)
    if len(corpus_ids) != len(corpus):
        raise ValueError(ERROR_CORPUS_IDS_LENGTH)
    if _is_codes(queries) != _is_codes(corpus):
        raise ValueError(ERROR_MIXED_KINDS)
    if queries.shape[1] != corpus.shape[1]:
        raise ValueError(ERROR_WIDTH_MISMATCH)


def retrieval_ranks(queries: np.ndarray, query_ids: Sequence[int], corpus: np.ndarray,
                    corpus_ids: Sequence[int]) -> np.ndarray:
    """Rank (0 = retrieved first) of each query's true product; ``ABSENT_RANK`` when it is absent.

    ``queries``/``corpus``: packed uint8 codes (Hamming distance) or float embeddings (dot product).
    When an id occurs several times in the corpus, its best-placed entry counts.
    """
    queries = np.asarray(queries)
    corpus = np.asarray(corpus)
    query_ids = np.asarray(query_ids, dtype=np.int64)
    corpus_ids = np.asarray(corpus_ids, dtype=np.int64)
    _validate(queries, query_ids, corpus, corpus_ids)
    ranks = np.full(len(queries), ABSENT_RANK, dtype=np.int64)
    if len(queries) == 0 or len(corpus) == 0:
        return ranks

    binary = _is_codes(queries)
    if binary:
        query_rows, corpus_rows = _as_words(queries), _as_words(corpus)
    else:
        query_rows = queries.astype(np.float32, copy=False)
        corpus_rows = corpus.astype(np.float32, copy=False)

    chunk = max(1, _CHUNK_ELEMENTS // (len(corpus) * (query_rows.shape[1] if binary else 1)))
    for start in range(0, len(queries), chunk):
        stop = min(start + chunk, len(queries))
        if binary:
            xor = query_rows[start:stop, None, :] ^ corpus_rows[None, :, :]
            distances = np.bitwise_count(xor).sum(axis=2, dtype=np.int64)
        else:
            # Negated similarity so that "smaller is better" for both kinds of input.
            distances = -(query_rows[start:stop] @ corpus_rows.T)
        is_true = corpus_ids[None, :] == query_ids[start:stop, None]
        present = is_true.any(axis=1)
        # The best distance among the true product's entries (duplicates allowed).
        true_distance = np.where(is_true, distances, np.inf if not binary else np.iinfo(np.int64).max)
        true_distance = true_distance.min(axis=1)
        ahead = (distances < true_distance[:, None]) | (
            (distances == true_distance[:, None]) & (corpus_ids[None, :] < query_ids[start:stop, None]))
        chunk_ranks = ahead.sum(axis=1, dtype=np.int64)
        ranks[start:stop] = np.where(present, chunk_ranks, ABSENT_RANK)
    return ranks


def top_k_accuracy(queries: np.ndarray, query_ids: Sequence[int], corpus: np.ndarray,
                   corpus_ids: Sequence[int], k_max: int = 10) -> np.ndarray:
    """``curve[K-1]`` = share of queries whose true product is among the first K results, K=1..k_max."""
    if k_max < 1:
        raise ValueError(ERROR_K_MAX)
    ranks = retrieval_ranks(queries, query_ids, corpus, corpus_ids)
    return top_k_accuracy_from_ranks(ranks, k_max)


def top_k_accuracy_from_ranks(ranks: np.ndarray, k_max: int = 10) -> np.ndarray:
    if k_max < 1:
        raise ValueError(ERROR_K_MAX)
    ranks = np.asarray(ranks, dtype=np.int64)
    if len(ranks) == 0:
        return np.zeros(k_max, dtype=np.float64)
    k = np.arange(1, k_max + 1)
    return (ranks[:, None] < k[None, :]).mean(axis=0)


def retrieval_precision_at_1(queries: np.ndarray, query_ids: Sequence[int], corpus: np.ndarray,
                             corpus_ids: Sequence[int]) -> float:
    """Share of queries whose first result is their true product (seed, Table 5)."""
    return float(top_k_accuracy(queries, query_ids, corpus, corpus_ids, k_max=1)[0])


def attribute_precision_at_1(predicted: Mapping[str, Sequence[str | None]],
                             true: Mapping[str, Sequence[str | None]]) -> dict[str, float]:
    """Per attribute, the share of crops whose top-1 prediction equals the truth (seed, Table 6).

    Crops whose true value is unknown (``None``) are left out; an attribute with no known truth is
    left out of the result rather than reported as 0 or 1.
    """
    result: dict[str, float] = {}
    for name, true_values in true.items():
        predicted_values = predicted.get(name, [None] * len(true_values))
        if len(predicted_values) != len(true_values):
            raise ValueError(ERROR_ATTRIBUTE_LENGTH.format(name=name))
        judged = [(p, t) for p, t in zip(predicted_values, true_values) if t is not None]
        if judged:
            result[name] = sum(p == t for p, t in judged) / len(judged)
    return result
