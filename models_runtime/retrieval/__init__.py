"""Per-category binary-code retrieval with exact Hamming top-k and boolean restriction queries."""
from .index import BinaryIndex
from .query import Query, QuerySyntaxError, parse_query

__all__ = ["BinaryIndex", "Query", "QuerySyntaxError", "parse_query"]
