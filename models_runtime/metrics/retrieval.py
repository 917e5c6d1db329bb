"""Offline retrieval and attribute metrics (seed, Tables 5 and 6): pure functions on arrays.

Every query object has one true product id, hidden in a corpus among distractors. A query's
rank is the position (0 = first) of its true product in the ranked corpus, where entries are
ordered by distance and equal distances by id ascending, so results never depend on corpus order.
Only the first ``k_max`` positions are looked at: a true product ranked lower, or absent from the
corpus, gets ``NOT_FOUND`` and counts as a miss. Retrieval P@1 is the share of queries ranked 0;
the top-K accuracy curve holds, for K = 1..k_max, the share ranked below K.

Packed binary codes (``uint8 [n, bits/8]``) are ranked by Hamming distance through the
production ``retrieval.BinaryIndex`` (the same exact top-k kernel, ties by id), so offline numbers
measure what the platform serves. Float embeddings are ranked by dot product (cosine similarity
for L2-normalised embeddings) in numpy. Corpus ids must be unique, as in the index.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from models_runtime.retrieval import BinaryIndex

NOT_FOUND = -1

ERROR_QUERY_IDS_LENGTH = "query_ids must hold one true product id per query"
ERROR_CORPUS_IDS_LENGTH = "corpus_ids must hold one id per corpus entry"
ERROR_MIXED_KINDS = "queries and corpus must both be packed uint8 codes or both float embeddings"
ERROR_WIDTH_MISMATCH = "queries and corpus must have the same code length / embedding dimension"
ERROR_K_MAX = "k_max must be at least 1"
ERROR_DUPLICATE_CORPUS_IDS = "corpus ids must be unique"
ERROR_ATTRIBUTE_LENGTH = "predicted and true values of attribute {name!r} differ in length"

_CORPUS_CATEGORY = "corpus"  # one index partition: offline P@1 ranks against the whole corpus
_FLOAT_CHUNK_CELLS = 1 << 23  # similarity-matrix cells per chunk (32 MB of float32)


def _is_codes(array: np.ndarray) -> bool:
    return array.dtype == np.uint8


def _validate(queries: np.ndarray, query_ids: np.ndarray, corpus: np.ndarray,
              corpus_ids: np.ndarray, k_max: int) -> None:
    if k_max < 1:
        raise ValueError(ERROR_K_MAX)
    if len(query_ids) != len(queries):
        raise ValueError(ERROR_QUERY_IDS_LENGTH)
    if len(corpus_ids) != len(corpus):
        raise ValueError(ERROR_CORPUS_IDS_LENGTH)
    if _is_codes(queries) != _is_codes(corpus):
        raise ValueError(ERROR_MIXED_KINDS)
    if queries.ndim != 2 or corpus.ndim != 2 or queries.shape[1] != corpus.shape[1]:
        raise ValueError(ERROR_WIDTH_MISMATCH)
    if len(np.unique(corpus_ids)) != len(corpus_ids):
        raise ValueError(ERROR_DUPLICATE_CORPUS_IDS)


def _pad_to_words(codes: np.ndarray) -> np.ndarray:
    """Zero bytes up to a multiple of 64 bits (the index's word size); zeros add no distance."""
    pad = (-codes.shape[1]) % 8
    if pad == 0:
        return np.ascontiguousarray(codes)
    return np.concatenate([codes, np.zeros((codes.shape[0], pad), np.uint8)], axis=1)


def _top_k_codes(queries: np.ndarray, corpus: np.ndarray, corpus_ids: np.ndarray, k: int) -> np.ndarray:
    queries, corpus = _pad_to_words(queries), _pad_to_words(corpus)
    index = BinaryIndex(n_bits=corpus.shape[1] * 8)
    index.add(corpus_ids, corpus, {"category": [_CORPUS_CATEGORY] * len(corpus_ids)})
    ids, _ = index.search(queries, k=k)
    return ids


def _top_k_floats(queries: np.ndarray, corpus: np.ndarray, corpus_ids: np.ndarray, k: int) -> np.ndarray:
    queries = queries.astype(np.float32, copy=False)
    corpus = corpus.astype(np.float32, copy=False)
    k_kept = min(k, len(corpus))
    # Sorting by (-similarity, id) needs the corpus in id order so a stable sort breaks ties by id.
    order = np.argsort(corpus_ids, kind="stable")
    corpus, corpus_ids = corpus[order], corpus_ids[order]
    found = np.full((len(queries), k), NOT_FOUND, dtype=np.int64)
    chunk = max(1, _FLOAT_CHUNK_CELLS // max(1, len(corpus)))
    for start in range(0, len(queries), chunk):
        similarity = queries[start:start + chunk] @ corpus.T
        if k_kept < len(corpus):
            candidates = np.argpartition(-similarity, k_kept - 1, axis=1)[:, :k_kept]
        else:
            candidates = np.broadcast_to(np.arange(len(corpus)), similarity.shape)
        values = np.take_along_axis(similarity, candidates, axis=1)
        # Candidates are corpus positions, i.e. id order: (-similarity, position) is the ranking.
        order = np.lexsort((candidates, -values), axis=1)
        ranked = np.take_along_axis(candidates, order, axis=1)
        # argpartition may keep an arbitrary one of several entries tied at the k-th value; those
        # (rare) rows are ranked in full so that the id tie-break stays exact at the cut.
        kth = values.min(axis=1, keepdims=True)
        for row in np.flatnonzero((similarity >= kth).sum(axis=1) > k_kept):
            ranked[row] = np.argsort(-similarity[row], kind="stable")[:k_kept]
        found[start:start + chunk, :k_kept] = corpus_ids[ranked]
    return found


def retrieved_ids(queries: np.ndarray, corpus: np.ndarray, corpus_ids: Sequence[int],
                  k: int) -> np.ndarray:
    """The first ``k`` corpus ids per query (int64 ``[q, k]``, ``NOT_FOUND`` padding)."""
    queries, corpus = np.asarray(queries), np.asarray(corpus)
    corpus_ids = np.asarray(corpus_ids, dtype=np.int64)
    _validate(queries, np.zeros(len(queries)), corpus, corpus_ids, k)
    if len(queries) == 0 or len(corpus) == 0:
        return np.full((len(queries), k), NOT_FOUND, dtype=np.int64)
    if _is_codes(queries):
        return _top_k_codes(queries, corpus, corpus_ids, k)
    return _top_k_floats(queries, corpus, corpus_ids, k)


def retrieval_ranks(queries: np.ndarray, query_ids: Sequence[int], corpus: np.ndarray,
                    corpus_ids: Sequence[int], k_max: int = 10) -> np.ndarray:
    """Position (0-based) of each query's true product among the first ``k_max``, else ``NOT_FOUND``."""
    queries, corpus = np.asarray(queries), np.asarray(corpus)
    query_ids = np.asarray(query_ids, dtype=np.int64)
    corpus_ids = np.asarray(corpus_ids, dtype=np.int64)
    _validate(queries, query_ids, corpus, corpus_ids, k_max)
    found = retrieved_ids(queries, corpus, corpus_ids, k_max)
    hit = found == query_ids[:, None]
    return np.where(hit.any(axis=1), hit.argmax(axis=1), NOT_FOUND).astype(np.int64)


def top_k_accuracy_from_ranks(ranks: np.ndarray, k_max: int = 10) -> np.ndarray:
    if k_max < 1:
        raise ValueError(ERROR_K_MAX)
    ranks = np.asarray(ranks, dtype=np.int64)
    if len(ranks) == 0:
        return np.zeros(k_max, dtype=np.float64)
    found = ranks != NOT_FOUND
    k = np.arange(1, k_max + 1)
    return (found[:, None] & (ranks[:, None] < k[None, :])).mean(axis=0)


def top_k_accuracy(queries: np.ndarray, query_ids: Sequence[int], corpus: np.ndarray,
                   corpus_ids: Sequence[int], k_max: int = 10) -> np.ndarray:
    """``curve[K-1]`` = share of queries whose true product is among the first K results, K=1..k_max."""
    ranks = retrieval_ranks(queries, query_ids, corpus, corpus_ids, k_max)
    return top_k_accuracy_from_ranks(ranks, k_max)


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
