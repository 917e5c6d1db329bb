import numpy as np
import pytest

from models_runtime.embedder import binarize
from models_runtime.metrics.retrieval import (
    ERROR_DUPLICATE_CORPUS_IDS,
    ERROR_MIXED_KINDS,
    ERROR_QUERY_IDS_LENGTH,
    NOT_FOUND,
    attribute_precision_at_1,
    retrieval_precision_at_1,
    retrieval_ranks,
    top_k_accuracy,
)


def codes_from_bits(rows):
    """Packed codes from lists of 16 bits (two bytes per code)."""
    return np.packbits(np.array(rows, dtype=bool), axis=1)


ZERO = [0] * 16


def bits_with(ones):
    row = [0] * 16
    for position in ones:
        row[position] = 1
    return row


def test_hamming_ranks_match_hand_counted_positions():
    corpus = codes_from_bits([bits_with([0]), bits_with([0, 1, 2]), bits_with([]), bits_with([0, 1])])
    corpus_ids = [10, 11, 12, 13]
    queries = codes_from_bits([ZERO, bits_with([0, 1, 2])])
    # Query 0 (all zeros): distances 1, 3, 0, 2 -> order 12, 10, 13, 11; its product 13 is third.
    # Query 1: distances 2, 0, 3, 1 -> order 11, 13, 10, 12; its product 10 is third.
    ranks = retrieval_ranks(queries, [13, 10], corpus, corpus_ids)
    assert ranks.tolist() == [2, 2]


def test_equal_distances_are_broken_by_product_id_not_corpus_order():
    # All four corpus entries sit at Hamming distance 1 from the query.
    corpus = codes_from_bits([bits_with([3]), bits_with([1]), bits_with([2]), bits_with([0])])
    corpus_ids = [40, 7, 25, 3]
    query = codes_from_bits([ZERO])
    assert retrieval_ranks(query, [3], corpus, corpus_ids).tolist() == [0]
    assert retrieval_ranks(query, [7], corpus, corpus_ids).tolist() == [1]
    assert retrieval_ranks(query, [40], corpus, corpus_ids).tolist() == [3]
    shuffled = [2, 0, 3, 1]
    assert retrieval_ranks(query, [40], corpus[shuffled], np.array(corpus_ids)[shuffled]).tolist() == [3]


def test_query_whose_true_product_is_absent_counts_as_a_miss():
    corpus = codes_from_bits([ZERO, bits_with([0])])
    queries = codes_from_bits([ZERO, ZERO])
    ranks = retrieval_ranks(queries, [1, 99], corpus, [1, 2])
    assert ranks.tolist() == [0, NOT_FOUND]
    assert retrieval_precision_at_1(queries, [1, 99], corpus, [1, 2]) == 0.5
    assert top_k_accuracy(queries, [1, 99], corpus, [1, 2], k_max=3).tolist() == [0.5, 0.5, 0.5]


def test_top_k_curve_counts_queries_found_within_each_k():
    corpus = codes_from_bits([bits_with([]), bits_with([0]), bits_with([0, 1]), bits_with([0, 1, 2])])
    corpus_ids = [0, 1, 2, 3]
    queries = codes_from_bits([ZERO, ZERO, ZERO, ZERO])
    # From the all-zero query the ranks of products 0..3 are 0..3.
    curve = top_k_accuracy(queries, [0, 1, 2, 3], corpus, corpus_ids, k_max=5)
    assert curve.tolist() == [0.25, 0.5, 0.75, 1.0, 1.0]
    assert retrieval_precision_at_1(queries, [0, 1, 2, 3], corpus, corpus_ids) == 0.25


def test_true_product_ranked_beyond_k_max_is_not_found():
    corpus = codes_from_bits([bits_with([]), bits_with([0]), bits_with([0, 1])])
    query = codes_from_bits([ZERO])
    assert retrieval_ranks(query, [2], corpus, [0, 1, 2], k_max=2).tolist() == [NOT_FOUND]
    assert retrieval_ranks(query, [2], corpus, [0, 1, 2], k_max=3).tolist() == [2]


def test_float_embeddings_rank_by_cosine_similarity():
    corpus = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]], dtype=np.float32)
    queries = np.array([[0.0, 1.0], [0.8, 0.6]], dtype=np.float32)
    # Query 0: similarities 0, .8, 1 -> product 2 first. Query 1: .8, .96, .6 -> product 1 first.
    assert retrieval_ranks(queries, [2, 0], corpus, [0, 1, 2]).tolist() == [0, 1]


def test_float_ties_are_broken_by_id_even_at_the_k_cut():
    corpus = np.array([[1.0, 0.0]] * 4, dtype=np.float32)
    query = np.array([[1.0, 0.0]], dtype=np.float32)
    corpus_ids = [30, 10, 40, 20]
    assert retrieval_ranks(query, [10], corpus, corpus_ids, k_max=1).tolist() == [0]
    assert retrieval_ranks(query, [20], corpus, corpus_ids, k_max=2).tolist() == [1]
    assert retrieval_ranks(query, [30], corpus, corpus_ids, k_max=2).tolist() == [NOT_FOUND]


def test_binary_and_brute_force_ranks_agree_on_random_codes():
    rng = np.random.default_rng(0)
    corpus_embeddings = rng.standard_normal((300, 256)).astype(np.float32)
    query_embeddings = corpus_embeddings[:50] + 0.8 * rng.standard_normal((50, 256)).astype(np.float32)
    corpus, queries = binarize(corpus_embeddings), binarize(query_embeddings)
    corpus_ids = rng.permutation(300)
    query_ids = corpus_ids[:50]
    bits_q = np.unpackbits(queries, axis=1).astype(int)
    bits_c = np.unpackbits(corpus, axis=1).astype(int)
    expected = []
    for q in range(50):
        distances = (bits_q[q][None, :] != bits_c).sum(axis=1)
        order = sorted(range(300), key=lambda c: (distances[c], corpus_ids[c]))
        expected.append([corpus_ids[c] for c in order].index(query_ids[q]))
    ranks = retrieval_ranks(queries, query_ids, corpus, corpus_ids, k_max=300)
    assert ranks.tolist() == expected
    similarity = query_embeddings @ corpus_embeddings.T
    expected_float = []
    for q in range(50):
        order = sorted(range(300), key=lambda c: (-similarity[q, c], corpus_ids[c]))
        position = [corpus_ids[c] for c in order].index(query_ids[q])
        expected_float.append(position if position < 5 else NOT_FOUND)
    float_ranks = retrieval_ranks(query_embeddings, query_ids, corpus_embeddings, corpus_ids, k_max=5)
    assert float_ranks.tolist() == expected_float


def test_mismatched_inputs_are_refused():
    codes = codes_from_bits([ZERO])
    with pytest.raises(ValueError, match=ERROR_QUERY_IDS_LENGTH):
        retrieval_ranks(codes, [1, 2], codes, [1])
    with pytest.raises(ValueError, match=ERROR_MIXED_KINDS):
        retrieval_ranks(codes, [1], np.zeros((1, 2), np.float32), [1])
    with pytest.raises(ValueError, match=ERROR_DUPLICATE_CORPUS_IDS):
        retrieval_ranks(codes, [1], np.concatenate([codes, codes]), [1, 1])


def test_attribute_precision_ignores_unknown_truths():
    predicted = {"color": ["red", "blue", "red", "green"], "pattern": ["solid", "solid", "plaid", None]}
    true = {"color": ["red", None, "blue", "green"], "pattern": ["solid", "striped", None, "solid"],
            "fabric": [None, None, None, None]}
    scores = attribute_precision_at_1(predicted, true)
    assert scores == {"color": pytest.approx(2 / 3), "pattern": pytest.approx(1 / 3)}
