import numpy as np
import pytest

from models_runtime.retrieval import QuerySyntaxError, parse_query
from models_runtime.retrieval.query import (EXPECTED_CLOSING_PARENTHESIS, EXPECTED_NUMBER, EXPECTED_OPERATOR,
                                            EXPECTED_OPERATOR_AT_TOP, EXPECTED_RELATION, EXPECTED_TERM,
                                            EXPECTED_VALUE, MESSAGE_EXPECTED, MESSAGE_NOT_NUMERIC_FIELD,
                                            MESSAGE_NOT_TEXT_FIELD, MESSAGE_UNKNOWN_FIELD,
                                            MESSAGE_UNTERMINATED_QUOTE, And, Comparison, Match, Not, Or,
                                            evaluate_mask, specialise_category)

FIELDS = {"category": "text", "gender": "text", "merchant": "text", "price": "number"}


def test_parser_reads_the_seed_example_with_precedence_and_parentheses():
    query = parse_query("gender:Men AND (category:Shirt OR category:Tie) AND (NOT price < 50)")
    assert query.root == And((
        Match("gender", "Men", 0),
        Or((Match("category", "Shirt", 16), Match("category", "Tie", 34))),
        Not(Comparison("price", "<", 50.0, 57)),
    ))


def test_not_binds_tighter_than_and_which_binds_tighter_than_or():
    query = parse_query("NOT a:1 OR b:2 AND c:3")
    assert query.root == Or((Not(Match("a", "1", 4)), And((Match("b", "2", 11), Match("c", "3", 19)))))
    nested = parse_query("NOT NOT (a:1 OR b:2) AND c:3")
    assert nested.root == And((Not(Not(Or((Match("a", "1", 9), Match("b", "2", 16))))), Match("c", "3", 25)))


def test_keywords_are_case_insensitive_and_values_may_be_quoted():
    query = parse_query('merchant:"Acme Co" and not gender:men or category:t-shirts')
    assert query.root == Or((
        And((Match("merchant", "Acme Co", 0), Not(Match("gender", "men", 27)))),
        Match("category", "t-shirts", 41),
    ))
    escaped = parse_query(r'merchant:"Say \"hi\""')
    assert escaped.root == Match("merchant", 'Say "hi"', 0)


@pytest.mark.parametrize("text, op, number", [
    ("price<50", "<", 50.0), ("price<=49.5", "<=", 49.5), ("price>1e2", ">", 100.0),
    ("price>=-3", ">=", -3.0), ("price=.25", "=", 0.25),
])
def test_numeric_comparisons_parse_every_operator(text, op, number):
    assert parse_query(text, fields=FIELDS).root == Comparison("price", op, number, 0)


def test_numeric_field_value_after_colon_becomes_a_number():
    assert parse_query("price:30", fields=FIELDS).root == Match("price", 30.0, 0)


def expected_message(position, expected, found):
    return MESSAGE_EXPECTED.format(position=position, expected=expected, found=found)


@pytest.mark.parametrize("text, position, message", [
    ("", 0, expected_message(0, EXPECTED_TERM, "an empty query")),
    ("   ", 3, expected_message(3, EXPECTED_TERM, "an empty query")),
    ("(category:tops", 14, expected_message(14, EXPECTED_CLOSING_PARENTHESIS, "the end of the query")),
    ("category:tops)", 13, expected_message(13, EXPECTED_OPERATOR_AT_TOP, "')'")),
    ("(category:tops gender:men)", 15, expected_message(15, EXPECTED_OPERATOR, "'gender:men'")),
    ("category:tops AND", 17, expected_message(17, EXPECTED_TERM, "the end of the query")),
    ("category:tops AND OR gender:men", 18, expected_message(18, EXPECTED_TERM, "'OR'")),
    ("NOT", 3, expected_message(3, EXPECTED_TERM, "the end of the query")),
    ("AND gender:men", 0, expected_message(0, EXPECTED_TERM, "'AND'")),
    ("()", 1, expected_message(1, EXPECTED_TERM, "')'")),
    ("category tops", 8, expected_message(8, EXPECTED_RELATION, "' '")),
    ("category:", 9, expected_message(9, EXPECTED_VALUE, "the end of the query")),
    ("price<abc", 6, expected_message(6, EXPECTED_NUMBER, "'abc'")),
    ("price<30abc", 6, expected_message(6, EXPECTED_NUMBER, "'30abc'")),
    ("price<", 6, expected_message(6, EXPECTED_NUMBER, "the end of the query")),
    ('merchant:"Acme', 9, MESSAGE_UNTERMINATED_QUOTE.format(position=9)),
])
def test_parser_rejects_malformed_queries_naming_the_position(text, position, message):
    with pytest.raises(QuerySyntaxError) as raised:
        parse_query(text, fields=FIELDS)
    assert str(raised.value) == message
    assert raised.value.position == position
    assert isinstance(raised.value, ValueError)


def test_parser_rejects_unknown_fields_and_comparisons_on_text_fields():
    with pytest.raises(QuerySyntaxError) as raised:
        parse_query("gender:men AND colour:red", fields=FIELDS)
    assert str(raised.value) == MESSAGE_UNKNOWN_FIELD.format(
        position=15, field="colour", known="category, gender, merchant, price")
    with pytest.raises(QuerySyntaxError) as raised:
        parse_query("category:tops OR gender<3", fields=FIELDS)
    assert str(raised.value) == MESSAGE_NOT_NUMERIC_FIELD.format(position=17, field="gender")
    with pytest.raises(QuerySyntaxError) as raised:
        parse_query("price:cheap", fields=FIELDS)
    assert str(raised.value) == MESSAGE_NOT_TEXT_FIELD.format(position=0, field="price", found="'cheap'")


def test_without_a_field_list_any_field_name_parses():
    assert parse_query("colour:red").fields() == {"colour"}


def test_category_terms_fold_to_constants_per_partition():
    query = parse_query("gender:women AND (category:tops OR category:coats) AND NOT price<50")
    assert specialise_category(query.root, "shoes") is False
    assert specialise_category(query.root, "tops") == And((Match("gender", "women", 0),
                                                            Not(Comparison("price", "<", 50.0, 59))))
    assert specialise_category(parse_query("NOT category:tops").root, "coats") is True
    assert specialise_category(parse_query("category:tops OR price<5").root, "tops") is True


def test_masks_are_vectorised_over_integer_coded_columns():
    vocabularies = {"gender": {"men": 0, "women": 1, "unisex": 2}, "merchant": {"Acme Co": 0, "Zeta": 1}}
    columns = {"gender": np.array([0, 1, 2, 1, 0]), "merchant": np.array([0, 0, 1, 1, 0]),
               "price": np.array([10.0, 60.0, 49.0, 50.0, np.nan])}
    query = parse_query('gender:women AND NOT price<50 OR merchant:"Zeta" AND price=49')
    mask = evaluate_mask(query.root, columns, vocabularies, 5)
    assert mask.tolist() == [False, True, True, True, False]
    unknown_value = evaluate_mask(parse_query("merchant:Nobody").root, columns, vocabularies, 5)
    assert not unknown_value.any()
