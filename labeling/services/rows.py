"""Model instances from hand-written SELECTs, for the queue's hot paths.

Compiling an ORM query costs more CPU than PostgreSQL spends running the small, indexed ones the
work queue sends (benchmarks/RESULTS_queue.md). ``select_columns`` lists a model's columns under a
table alias; ``instances_from_row`` turns one fetched row back into instances, running the backend's
and the fields' converters exactly as the ORM would (SQLite keeps times as text, for one)."""
from __future__ import annotations

from collections.abc import Sequence

from django.db import connection
from django.db.models import Model


def select_columns(model: type[Model], alias: str) -> str:
    return ", ".join(f"{alias}.{field.column}" for field in model._meta.concrete_fields)


# (vendor, model) -> (attribute names, [(column index, column, converters)]): the converters a
# model's columns need on a backend never change, so they are looked up once per process.
_CONVERTERS: dict[tuple[str, type[Model]], tuple[list[str], list[tuple]]] = {}


def _converters(model: type[Model]) -> tuple[list[str], list[tuple]]:
    key = (connection.vendor, model)
    if key not in _CONVERTERS:
        fields = model._meta.concrete_fields
        steps = []
        for index, field in enumerate(fields):
            column = field.get_col(model._meta.db_table)
            converters = [*connection.ops.get_db_converters(column), *column.get_db_converters(connection)]
            if converters:
                steps.append((index, column, converters))
        _CONVERTERS[key] = ([field.attname for field in fields], steps)
    return _CONVERTERS[key]


def instances_from_row(row: Sequence, models: Sequence[type[Model]]) -> list[Model]:
    """One instance per model, from a row that lists each model's concrete columns in turn."""
    instances, position = [], 0
    for model in models:
        attnames, steps = _converters(model)
        values = list(row[position:position + len(attnames)])
        for index, column, converters in steps:
            for converter in converters:
                values[index] = converter(values[index], column, connection)
        instances.append(model.from_db(connection.alias, attnames, values))
        position += len(attnames)
    return instances
