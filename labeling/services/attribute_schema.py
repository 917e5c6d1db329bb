"""Expert edits of the attribute schema (the database rows validation reads, labeling/taxonomy.py).

An edit takes effect for the next submit: saving the rows changes the taxonomy's version token.
Values and attributes are only ever added here, never renamed or removed: old labels keep the
values they were given (labeling/task_kinds/attributes.py).
"""
from __future__ import annotations

import re
from collections.abc import Iterable

from django.db import transaction

from labeling.models import Attribute, Category

ATTRIBUTE_VALUE_BLANK = "Give the new value."
ATTRIBUTE_VALUE_INVALID = "A value is lower-case letters, digits and underscores ('{value}' is not)."
ATTRIBUTE_VALUE_EXISTS = "'{value}' is a value of '{name}' already."
ATTRIBUTE_NAME_INVALID = "An attribute's name is lower-case letters, digits and underscores ('{name}' is not)."
ATTRIBUTE_NAME_EXISTS = "There is an attribute named '{name}' already."
ATTRIBUTE_LABEL_BLANK = "Give the attribute a label people read."
ATTRIBUTE_NEEDS_VALUES = "An attribute needs at least two values."
ATTRIBUTE_NEEDS_CATEGORIES = "Say which categories the attribute applies to."
VALUE_PATTERN = re.compile(r"^[a-z0-9_]{1,60}$")


class AttributeSchemaError(ValueError):
    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def _value_clean(value: str) -> str:
    value = (value or "").strip()
    if not value:
        raise AttributeSchemaError(ATTRIBUTE_VALUE_BLANK, "value")
    if not VALUE_PATTERN.match(value):
        raise AttributeSchemaError(ATTRIBUTE_VALUE_INVALID.format(value=value), "value")
    return value


def attribute_value_add(*, attribute: Attribute, value: str) -> Attribute:
    value = _value_clean(value)
    with transaction.atomic():
        attribute = Attribute.objects.select_for_update().get(pk=attribute.pk)
        if value in attribute.values:
            raise AttributeSchemaError(ATTRIBUTE_VALUE_EXISTS.format(value=value, name=attribute.name), "value")
        attribute.values = [*attribute.values, value]
        attribute.save(update_fields=["values"])
    return attribute


def attribute_create(*, name: str, label: str, values: Iterable[str], categories: Iterable[Category]) -> Attribute:
    name = (name or "").strip()
    if not VALUE_PATTERN.match(name):
        raise AttributeSchemaError(ATTRIBUTE_NAME_INVALID.format(name=name), "name")
    if not (label or "").strip():
        raise AttributeSchemaError(ATTRIBUTE_LABEL_BLANK, "label")
    cleaned = list(dict.fromkeys(_value_clean(value) for value in values if value.strip()))
    if len(cleaned) < 2:
        raise AttributeSchemaError(ATTRIBUTE_NEEDS_VALUES, "values")
    categories = list(categories)
    if not categories:
        raise AttributeSchemaError(ATTRIBUTE_NEEDS_CATEGORIES, "categories")
    with transaction.atomic():
        if Attribute.objects.filter(name=name).exists():
            raise AttributeSchemaError(ATTRIBUTE_NAME_EXISTS.format(name=name), "name")
        attribute = Attribute.objects.create(name=name, label=label.strip(), values=cleaned)
        attribute.categories.set(categories)
    return attribute
