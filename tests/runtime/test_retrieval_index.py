import numpy as np
import pytest

from models_runtime.retrieval import BinaryIndex, QuerySyntaxError, parse_query
from models_runtime.retrieval.index import (MESSAGE_DUPLICATE_IDS, MESSAGE_FIELD_SET, MESSAGE_NO_CATEGORY,
                                            PADDING_DISTANCE, PADDING_ID)
from models_runtime.retrieval.query import MESSAGE_UNKNOWN_FIELD

CATEGORIES = ["tops", "coats", "shoes", "skirts"]
GENDERS = ["men", "women", "unisex"]
MERCHANTS = ["Acme Co", "Zeta", "Northwind"]


def make_catalogue(seed: int, n: int, n_bits: int = 256):
    rng = np.random.default_rng(seed)
    # ids are shuffled and sparse so that tie-breaking by id is not the same as insertion order
    ids = rng.permutation(np.arange(n, dtype=np.int64) * 7 + 3)
    # few bits per code make equal distances common, which exercises the tie-breaking rule
    codes = np.zeros((n, n_bits // 8), dtype=np.uint8)
    codes[:, :2] = rng.integers(0, 256, (n, 2), dtype=np.uint8)
    codes[:, -1] = rng.integers(0, 4, n, dtype=np.uint8)
    fields = {
        "category": rng.choice(CATEGORIES, n, p=[0.5, 0.25, 0.2, 0.05]),
        "gender": rng.choice(GENDERS, n),
        "merchant": rng.choice(MERCHANTS, n),
        "price": np.round(rng.uniform(5, 150, n), 2),
    }
    return ids, codes, fields


def hamming(queries: np.ndarray, codes: np.ndarray) -> np.ndarray:
    return np.unpackbits(queries[:, None, :] ^ codes[None, :, :], axis=2).sum(axis=2)


def brute_force(queries, ids, codes, admitted: np.ndarray, k: int):
    """Top-k by (distance, id) over the admitted rows, padded with -1 ids and distances."""
    distances = hamming(queries, codes)
    out_ids = np.full((len(queries), k), -1, dtype=np.int64)
    out_distances = np.full((len(queries), k), -1, dtype=np.int32)
    rows = np.flatnonzero(admitted)
    for q in range(len(queries)):
        order = rows[np.lexsort((ids[rows], distances[q, rows]))][:k]
        out_ids[q, :len(order)] = ids[order]
        out_distances[q, :len(order)] = distances[q, order]
    return out_ids, out_distances


def build_index(ids, codes, fields, n_bits=256) -> BinaryIndex:
    index = BinaryIndex(n_bits=n_bits)
    index.add(ids, codes, fields)
    return index


# restriction text -> the same predicate written row by row in plain Python
RESTRICTIONS = {
    None: lambda row: True,
    "category:tops": lambda row: row["category"] == "tops",
    "gender:women AND (category:tops OR category:coats) AND NOT price<50":
        lambda row: row["gender"] in ("women", "unisex") and row["category"] in ("tops", "coats")
        and not row["price"] < 50,
    "category:tops AND gender:men AND price<30":
        lambda row: row["category"] == "tops" and row["gender"] in ("men", "unisex") and row["price"] < 30,
    'merchant:"Acme Co" OR price>=140': lambda row: row["merchant"] == "Acme Co" or row["price"] >= 140,
    "NOT category:tops AND NOT category:coats": lambda row: row["category"] not in ("tops", "coats"),
    "category:skirts OR gender:men AND merchant:Zeta":
        lambda row: row["category"] == "skirts" or (row["gender"] in ("men", "unisex") and row["merchant"] == "Zeta"),
    "category:tops AND price>1000": lambda row: False,
    "category:hats": lambda row: False,
    "gender:unisex": lambda row: row["gender"] == "unisex",
}


def admitted_rows(fields, predicate) -> np.ndarray:
    n = len(fields["category"])
    return np.array([predicate({name: values[i] for name, values in fields.items()}) for i in range(n)])


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("restriction", list(RESTRICTIONS))
def test_index_matches_brute_force_with_and_without_restrictions(seed, restriction):
    ids, codes, fields = make_catalogue(seed, 600)
    index = build_index(ids, codes, fields)
    queries = np.random.default_rng(seed + 100).integers(0, 256, (12, 32), dtype=np.uint8)
    queries[:, 2:-1] = 0
    admitted = admitted_rows(fields, RESTRICTIONS[restriction])
    for k in (1, 5, 40):
        want_ids, want_distances = brute_force(queries, ids, codes, admitted, k)
        # small batches gather restricted rows through a row list, large ones scan a copy of them
        for batch in (slice(0, 3), slice(0, 12)):
            got_ids, got_distances = index.search(queries[batch], k=k, restrict=restriction)
            np.testing.assert_array_equal(got_ids, want_ids[batch])
            np.testing.assert_array_equal(got_distances, want_distances[batch])
            assert got_ids.dtype == np.int64 and got_distances.dtype == np.int32


def test_k_larger_than_matching_rows_pads_with_minus_one():
    ids, codes, fields = make_catalogue(3, 300)
    index = build_index(ids, codes, fields)
    admitted = admitted_rows(fields, RESTRICTIONS["category:tops AND gender:men AND price<30"])
    k = int(admitted.sum()) + 6
    queries = codes[:2]
    got_ids, got_distances = index.search(queries, k=k, restrict="category:tops AND gender:men AND price<30")
    assert (got_ids[:, :admitted.sum()] >= 0).all()
    assert (got_ids[:, admitted.sum():] == PADDING_ID).all()
    assert (got_distances[:, admitted.sum():] == PADDING_DISTANCE).all()
    assert set(got_ids[0, :admitted.sum()]) == set(ids[admitted])


@pytest.mark.parametrize("seed", [4, 5])
def test_category_argument_selects_partitions_like_a_category_query(seed):
    ids, codes, fields = make_catalogue(seed, 500)
    index = build_index(ids, codes, fields)
    queries = codes[:5]
    by_argument = index.search(queries, k=9, category=["tops", "skirts"])
    by_query = index.search(queries, k=9, restrict="category:tops OR category:skirts")
    admitted = np.isin(fields["category"], ["tops", "skirts"])
    want = brute_force(queries, ids, codes, admitted, 9)
    for got in (by_argument, by_query):
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
    # the argument and the query intersect
    both = index.search(queries, k=9, category="skirts", restrict="category:tops")
    assert (both[0] == PADDING_ID).all()


def test_gender_restriction_admits_unisex_products():
    index = BinaryIndex(n_bits=64)
    codes = np.zeros((4, 8), dtype=np.uint8)
    index.add(np.array([10, 11, 12, 13]), codes,
              {"category": ["tops"] * 4, "gender": ["women", "men", "unisex", "women"]})
    ids, _ = index.search(codes[:1], k=4, restrict="gender:women")
    assert ids[0].tolist() == [10, 12, 13, PADDING_ID]
    ids, _ = index.search(codes[:1], k=4, restrict="gender:men")
    assert ids[0].tolist() == [11, 12, PADDING_ID, PADDING_ID]
    ids, _ = index.search(codes[:1], k=4, restrict="gender:unisex")
    assert ids[0].tolist() == [12, PADDING_ID, PADDING_ID, PADDING_ID]


def test_save_and_load_round_trip_gives_identical_results(tmp_path):
    ids, codes, fields = make_catalogue(6, 400)
    index = build_index(ids, codes, fields)
    path = index.save(tmp_path / "catalogue.npz")
    loaded = BinaryIndex.load(path)
    assert len(loaded) == len(index) == 400
    assert loaded.field_kinds == index.field_kinds
    queries = codes[:6]
    for restriction in RESTRICTIONS:
        a = index.search(queries, k=12, restrict=restriction)
        b = loaded.search(queries, k=12, restrict=restriction)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])


def test_loaded_index_accepts_more_products(tmp_path):
    ids, codes, fields = make_catalogue(7, 200)
    half = {name: values[:100] for name, values in fields.items()}
    rest = {name: values[100:] for name, values in fields.items()}
    index = build_index(ids[:100], codes[:100], half)
    loaded = BinaryIndex.load(index.save(tmp_path / "half.npz"))
    loaded.add(ids[100:], codes[100:], rest)
    want = brute_force(codes[:3], ids, codes, np.ones(200, dtype=bool), 8)
    got = loaded.search(codes[:3], k=8)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


def test_adding_in_two_batches_equals_adding_at_once():
    ids, codes, fields = make_catalogue(8, 500)
    at_once = build_index(ids, codes, fields)
    in_two = BinaryIndex()
    in_two.add(ids[:123], codes[:123], {name: values[:123] for name, values in fields.items()})
    queries = codes[:4]
    in_two.search(queries, k=3)  # a search between the batches must not freeze the first one
    in_two.add(ids[123:], codes[123:], {name: values[123:] for name, values in fields.items()})
    assert len(in_two) == 500
    for restriction in RESTRICTIONS:
        a = at_once.search(queries, k=10, restrict=restriction)
        b = in_two.search(queries, k=10, restrict=restriction)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])


def test_codes_of_other_widths_use_the_generic_kernel():
    ids, codes, fields = make_catalogue(9, 300, n_bits=128)
    index = build_index(ids, codes, fields, n_bits=128)
    queries = codes[:5]
    admitted = admitted_rows(fields, RESTRICTIONS["gender:women AND (category:tops OR category:coats) AND NOT price<50"])
    got = index.search(queries, k=7, restrict="gender:women AND (category:tops OR category:coats) AND NOT price<50")
    want = brute_force(queries, ids, codes, admitted, 7)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


def test_search_rejects_unknown_fields_with_the_position():
    ids, codes, fields = make_catalogue(10, 50)
    index = build_index(ids, codes, fields)
    for restriction in ("category:tops AND colour:red", parse_query("category:tops AND colour:red")):
        with pytest.raises(QuerySyntaxError) as raised:
            index.search(codes[:1], restrict=restriction)
        assert str(raised.value) == MESSAGE_UNKNOWN_FIELD.format(
            position=18, field="colour", known="category, gender, merchant, price")


def test_add_rejects_missing_category_changed_fields_and_duplicate_ids_without_changing_the_index():
    index = BinaryIndex(n_bits=64)
    codes = np.zeros((2, 8), dtype=np.uint8)
    with pytest.raises(ValueError) as raised:
        index.add(np.array([1, 2]), codes, {"gender": ["men", "men"]})
    assert str(raised.value) == MESSAGE_NO_CATEGORY
    index.add(np.array([1, 2]), codes, {"category": ["tops", "tops"], "gender": ["men", "women"]})
    with pytest.raises(ValueError) as raised:
        index.add(np.array([3, 4]), codes, {"category": ["tops", "tops"]})
    assert str(raised.value) == MESSAGE_FIELD_SET.format(got=["category"], expected=["category", "gender"])
    with pytest.raises(ValueError) as raised:
        index.add(np.array([2, 5]), codes, {"category": ["tops", "coats"], "gender": ["men", "men"]})
    assert str(raised.value) == MESSAGE_DUPLICATE_IDS.format(ids=[2])
    with pytest.raises(ValueError) as raised:
        index.add(np.array([7, 7]), codes, {"category": ["tops", "coats"], "gender": ["men", "men"]})
    assert str(raised.value) == MESSAGE_DUPLICATE_IDS.format(ids=[7])
    assert len(index) == 2  # rejected batches leave the index as it was


def test_empty_index_returns_only_padding():
    ids, distances = BinaryIndex().search(np.zeros((2, 32), dtype=np.uint8), k=3)
    assert (ids == PADDING_ID).all() and (distances == PADDING_DISTANCE).all()


@pytest.mark.parametrize("restriction", [None, "gender:women AND (category:tops OR category:coats) AND NOT price<50"])
def test_threaded_search_equals_single_threaded_search(restriction):
    ids, codes, fields = make_catalogue(11, 700)
    index = build_index(ids, codes, fields)
    queries = np.random.default_rng(12).integers(0, 256, (21, 32), dtype=np.uint8)
    single = index.search(queries, k=6, restrict=restriction)
    for threads in (2, 3):
        threaded = index.search(queries, k=6, restrict=restriction, threads=threads)
        np.testing.assert_array_equal(threaded[0], single[0])
        np.testing.assert_array_equal(threaded[1], single[1])
