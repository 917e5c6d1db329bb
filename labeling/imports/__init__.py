"""Imports of outside data into the platform's records: creator-annotated pairs in the Shop The Look
format (``stl_pairs``, design note PAIRS.md)."""
