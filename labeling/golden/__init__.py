"""Golden sets and golden items: services (writes), selectors (reads), JSON-lines import/export.
The design note is GOLDEN.md beside this file."""
