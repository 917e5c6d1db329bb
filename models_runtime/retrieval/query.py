"""Boolean restriction queries over indexed product fields.

Grammar (precedence NOT > AND > OR, keywords case-insensitive)::

    query      := or_expr END
    or_expr    := and_expr ("OR" and_expr)*
    and_expr   := not_expr ("AND" not_expr)*
    not_expr   := "NOT" not_expr | primary
    primary    := "(" or_expr ")" | term
    term       := FIELD ":" VALUE            (VALUE bare or "double quoted")
                | FIELD ("<"|"<="|">"|">="|"=") NUMBER

Example: ``gender:women AND (category:tops OR category:coats) AND NOT price<50``.

``gender:<g>`` also admits ``unisex`` products: the seed (section 6.1.2) queries with the predicted
gender combined with "unisex" so that products the gender classifier was unsure of are not lost.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping, Union

import numpy as np

# Error messages (tests import these). Positions are 0-based character offsets into the query.
MESSAGE_EXPECTED = "at position {position}: expected {expected}, found {found}"
MESSAGE_UNKNOWN_FIELD = "at position {position}: unknown field {field!r}, expected one of {known}"
MESSAGE_NOT_NUMERIC_FIELD = (
    "at position {position}: field {field!r} holds text, expected 'field:value' instead of a comparison"
)
MESSAGE_NOT_TEXT_FIELD = (
    "at position {position}: field {field!r} holds numbers, expected a number after ':', found {found}"
)
MESSAGE_UNTERMINATED_QUOTE = "at position {position}: expected a closing '\"' for the value"

EXPECTED_TERM = "a term 'field:value', 'field<number', 'NOT' or '('"
EXPECTED_OPERATOR = "'AND', 'OR', ')' or the end of the query"
EXPECTED_OPERATOR_AT_TOP = "'AND', 'OR' or the end of the query"
EXPECTED_CLOSING_PARENTHESIS = "')'"
EXPECTED_RELATION = "':' or a comparison '<', '<=', '>', '>=', '='"
EXPECTED_VALUE = "a value after ':'"
EXPECTED_NUMBER = "a number"

GENDER_FIELD = "gender"
UNISEX = "unisex"
CATEGORY_FIELD = "category"

KIND_TEXT = "text"
KIND_NUMBER = "number"

COMPARISONS = ("<=", ">=", "<", ">", "=")
KEYWORDS = ("AND", "OR", "NOT")

_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BARE_VALUE = re.compile(r"[^\s()\"]+")
_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")


class QuerySyntaxError(ValueError):
    """A malformed restriction query; ``position`` is the 0-based character offset of the problem."""

    def __init__(self, message: str, position: int):
        super().__init__(message)
        self.position = position


# ---------------------------------------------------------------------------------------------
# Syntax tree


@dataclass(frozen=True)
class Match:
    """``field:value``."""
    field: str
    value: str | float
    position: int


@dataclass(frozen=True)
class Comparison:
    """``field<op>number``."""
    field: str
    op: str
    number: float
    position: int


@dataclass(frozen=True)
class And:
    operands: tuple["Node", ...]


@dataclass(frozen=True)
class Or:
    operands: tuple["Node", ...]


@dataclass(frozen=True)
class Not:
    operand: "Node"


Node = Union[Match, Comparison, And, Or, Not]


@dataclass(frozen=True)
class Query:
    text: str
    root: Node

    def fields(self) -> set[str]:
        return _fields_of(self.root)


def _fields_of(node: Node) -> set[str]:
    if isinstance(node, (Match, Comparison)):
        return {node.field}
    if isinstance(node, Not):
        return _fields_of(node.operand)
    out: set[str] = set()
    for operand in node.operands:
        out |= _fields_of(operand)
    return out


# ---------------------------------------------------------------------------------------------
# Parser: recursive descent directly over the characters, because what a token is depends on
# where it stands (after ':' anything up to a space or parenthesis is a value, e.g. "t-shirt").


def parse_query(text: str, fields: Mapping[str, str] | None = None) -> Query:
    """Parse ``text``. With ``fields`` (name -> ``"text"`` | ``"number"``) unknown fields and
    comparisons on text fields are rejected too, and numeric ``field:value`` terms get float values."""
    parser = _Parser(text, fields)
    return Query(text=text, root=parser.parse())


class _Parser:
    def __init__(self, text: str, fields: Mapping[str, str] | None):
        self.text = text
        self.fields = fields
        self.pos = 0

    def parse(self) -> Node:
        node = self.or_expr()
        self.skip_space()
        if self.pos < len(self.text):
            self.fail(EXPECTED_OPERATOR_AT_TOP)
        return node

    # -- helpers --------------------------------------------------------------------------------
    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def found(self) -> str:
        if self.pos >= len(self.text):
            return "the end of the query" if self.text.strip() else "an empty query"
        word = _BARE_VALUE.match(self.text, self.pos)
        return repr(word.group(0) if word else self.text[self.pos])

    def fail(self, expected: str, position: int | None = None) -> None:
        position = self.pos if position is None else position
        raise QuerySyntaxError(
            MESSAGE_EXPECTED.format(position=position, expected=expected, found=self.found()), position)

    def keyword_at(self) -> str | None:
        """The keyword starting at the current position, if a whole word is one."""
        match = _FIELD_NAME.match(self.text, self.pos)
        if match and match.group(0).upper() in KEYWORDS:
            return match.group(0).upper()
        return None

    def take_keyword(self, keyword: str) -> bool:
        self.skip_space()
        if self.keyword_at() == keyword:
            self.pos += len(keyword)
            return True
        return False

    # -- grammar --------------------------------------------------------------------------------
    def or_expr(self) -> Node:
        operands = [self.and_expr()]
        while self.take_keyword("OR"):
            operands.append(self.and_expr())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def and_expr(self) -> Node:
        operands = [self.not_expr()]
        while self.take_keyword("AND"):
            operands.append(self.not_expr())
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def not_expr(self) -> Node:
        if self.take_keyword("NOT"):
            return Not(self.not_expr())
        return self.primary()

    def primary(self) -> Node:
        self.skip_space()
        if self.pos < len(self.text) and self.text[self.pos] == "(":
            self.pos += 1
            node = self.or_expr()
            self.skip_space()
            if self.pos >= len(self.text) or self.text[self.pos] != ")":
                self.fail(EXPECTED_CLOSING_PARENTHESIS if self.pos >= len(self.text) else EXPECTED_OPERATOR)
            self.pos += 1
            return node
        return self.term()

    def term(self) -> Node:
        start = self.pos
        name = _FIELD_NAME.match(self.text, self.pos)
        if not name or name.group(0).upper() in KEYWORDS:
            self.fail(EXPECTED_TERM)
        field = name.group(0)
        kind = self.field_kind(field, start)
        self.pos = name.end()
        if self.text.startswith(":", self.pos):
            self.pos += 1
            value = self.value()
            if kind == KIND_NUMBER:
                number = _NUMBER.fullmatch(value) if isinstance(value, str) else None
                if number is None:
                    raise QuerySyntaxError(MESSAGE_NOT_TEXT_FIELD.format(
                        position=start, field=field, found=repr(value)), start)
                return Match(field, float(value), start)
            return Match(field, value, start)
        # the seed writes comparisons with spaces ("price < 50"), so they are allowed around operators
        after_spaces = self.pos
        while after_spaces < len(self.text) and self.text[after_spaces].isspace():
            after_spaces += 1
        for op in COMPARISONS:
            if self.text.startswith(op, after_spaces):
                if kind == KIND_TEXT:
                    raise QuerySyntaxError(MESSAGE_NOT_NUMERIC_FIELD.format(position=start, field=field), start)
                self.pos = after_spaces + len(op)
                self.skip_space()
                return Comparison(field, op, self.number(), start)
        self.fail(EXPECTED_RELATION)
        raise AssertionError("unreachable")

    def field_kind(self, field: str, position: int) -> str | None:
        if self.fields is None:
            return None
        if field not in self.fields:
            known = ", ".join(sorted(self.fields))
            raise QuerySyntaxError(
                MESSAGE_UNKNOWN_FIELD.format(position=position, field=field, known=known), position)
        return self.fields[field]

    def value(self) -> str:
        if self.text.startswith('"', self.pos):
            start = self.pos
            chars: list[str] = []
            self.pos += 1
            while self.pos < len(self.text):
                char = self.text[self.pos]
                if char == "\\" and self.pos + 1 < len(self.text):
                    chars.append(self.text[self.pos + 1])
                    self.pos += 2
                    continue
                if char == '"':
                    self.pos += 1
                    return "".join(chars)
                chars.append(char)
                self.pos += 1
            raise QuerySyntaxError(MESSAGE_UNTERMINATED_QUOTE.format(position=start), start)
        bare = _BARE_VALUE.match(self.text, self.pos)
        if not bare:
            self.fail(EXPECTED_VALUE)
        self.pos = bare.end()
        return bare.group(0)

    def number(self) -> float:
        number = _NUMBER.match(self.text, self.pos)
        end = number.end() if number else self.pos
        # "price<30abc" must not parse as price<30 followed by garbage
        if not number or (end < len(self.text) and not self.text[end].isspace() and self.text[end] != ")"):
            self.fail(EXPECTED_NUMBER)
        self.pos = end
        return float(number.group(0))


# ---------------------------------------------------------------------------------------------
# Evaluation over one partition of the index


def specialise_category(node: Node, category: str) -> Node | bool:
    """Fold ``category:`` terms to constants for a partition holding only ``category``.

    Returns ``True``/``False`` when the whole query is decided by the category alone, so the index
    can skip a partition (False) or scan it without a row mask (True).
    """
    if isinstance(node, Match):
        return node.value == category if node.field == CATEGORY_FIELD else node
    if isinstance(node, Comparison):
        return node
    if isinstance(node, Not):
        inner = specialise_category(node.operand, category)
        return (not inner) if isinstance(inner, bool) else Not(inner)
    is_and = isinstance(node, And)
    kept: list[Node] = []
    for operand in node.operands:
        folded = specialise_category(operand, category)
        if isinstance(folded, bool):
            if folded != is_and:  # False inside AND, True inside OR decides everything
                return folded
            continue
        kept.append(folded)
    if not kept:
        return is_and
    if len(kept) == 1:
        return kept[0]
    return And(tuple(kept)) if is_and else Or(tuple(kept))


def evaluate_mask(node: Node, columns: Mapping[str, np.ndarray], vocabularies: Mapping[str, dict],
                  n_rows: int) -> np.ndarray:
    """Boolean mask of the rows of a partition that satisfy ``node``.

    Text fields are integer-coded columns (``vocabularies[field][value] -> code``), so a term is one
    vectorised ``column == code``; numeric fields are float columns compared directly.
    """
    if isinstance(node, Match):
        column = columns[node.field]
        vocabulary = vocabularies.get(node.field)
        if vocabulary is None:
            return column == node.value
        wanted = [vocabulary.get(node.value, -1)]
        if node.field == GENDER_FIELD and node.value != UNISEX:
            wanted.append(vocabulary.get(UNISEX, -1))
        wanted = [code for code in wanted if code >= 0]
        if not wanted:
            return np.zeros(n_rows, dtype=bool)
        mask = column == wanted[0]
        for code in wanted[1:]:
            mask |= column == code
        return mask
    if isinstance(node, Comparison):
        column = columns[node.field]
        if node.op == "<":
            return column < node.number
        if node.op == "<=":
            return column <= node.number
        if node.op == ">":
            return column > node.number
        if node.op == ">=":
            return column >= node.number
        return column == node.number
    if isinstance(node, Not):
        return ~evaluate_mask(node.operand, columns, vocabularies, n_rows)
    masks = [evaluate_mask(operand, columns, vocabularies, n_rows) for operand in node.operands]
    combined = masks[0].copy()
    for mask in masks[1:]:
        if isinstance(node, And):
            combined &= mask
        else:
            combined |= mask
    return combined
