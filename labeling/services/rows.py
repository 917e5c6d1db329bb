"""Model instances from hand-written SELECTs, and new rows by hand-written INSERTs, for the
queue's hot paths.

Compiling an ORM query costs more CPU than PostgreSQL spends running the small, indexed ones the
work queue sends (benchmarks/RESULTS_queue.md). ``select_columns`` lists a model's columns under a
table alias; ``instances_from_row`` turns one fetched row back into instances, running the backend's
and the fields' converters exactly as the ORM would (SQLite keeps times as text, for one);
``instance_insert`` stores a new instance, optionally with other writes in the same statement."""
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


def instance_fetch(sql: str, params: Sequence, model: type[Model]) -> Model | None:
    """The first row of a hand-written ``SELECT {select_columns(model, alias)} ...`` as an instance."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return None if row is None else instances_from_row(row, (model,))[0]


# (vendor, model) -> (INSERT statement, fields in its column order): built once per process.
_INSERTS: dict[tuple[str, type[Model]], tuple[str, list]] = {}


def _insert_statement(model: type[Model]) -> tuple[str, list]:
    key = (connection.vendor, model)
    if key not in _INSERTS:
        quote = connection.ops.quote_name
        fields = [field for field in model._meta.concrete_fields if not field.primary_key]
        sql = (f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(field.column) for field in fields)})"
               f" VALUES ({', '.join(['%s'] * len(fields))})")
        if connection.features.can_return_columns_from_insert:
            sql += f" RETURNING {quote(model._meta.pk.column)}"
        _INSERTS[key] = (sql, fields)
    return _INSERTS[key]


def instance_insert(instance: Model, *, along: Sequence[tuple[str, Sequence]] = ()) -> Model:
    """Store a new instance (its primary key an auto field) by one hand-written INSERT, with each
    field's value made as ``Model.save`` makes it (``pre_save``: ``auto_now_add`` times; then
    ``get_db_prep_save``: JSON, times on SQLite). No signals are sent: the hot-path models have no
    receivers. Database errors (an IntegrityError) are raised as the ORM raises them.

    ``along``: other writes, ``(sql, params)``, that commit or fail with this one. On PostgreSQL
    they ride in the INSERT's own statement as data-modifying ``WITH`` queries (one round trip; each
    runs exactly once, on the statement's snapshot, so they must touch other rows than each other);
    elsewhere they run after it."""
    sql, fields = _insert_statement(type(instance))
    values = [field.get_db_prep_save(field.pre_save(instance, True), connection) for field in fields]
    together = along and connection.vendor == "postgresql"
    if together:
        sql = "WITH " + ", ".join(f"along_{n} AS ({statement})" for n, (statement, _) in enumerate(along)) + " " + sql
        values = [value for _, params in along for value in params] + values
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        instance.pk = cursor.fetchone()[0] if connection.features.can_return_columns_from_insert else cursor.lastrowid
        if not together:
            for statement, params in along:
                cursor.execute(statement, params)
    instance._state.adding = False
    instance._state.db = connection.alias
    return instance
