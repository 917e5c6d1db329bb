"""The API's one pagination: ``?page=N`` with N a whole number from 1 up (the schema says so).

DRF's PageNumberPagination answers 404 "Invalid page." both for a page past the end and for a
page that is not a number at all (``?page=null``), and takes the last of repeated ``page``
values. Here a malformed page is the client's mistake and gets a 400 that names it, and only a
well-formed page past the end is a 404, with the number of pages in the message.
"""
from __future__ import annotations

import re

from django.core.paginator import InvalidPage
from rest_framework import pagination
from rest_framework.exceptions import NotFound, ValidationError

PAGE_NOT_A_NUMBER = "'page' must be a whole number from 1 up; got '{value}'."
PAGE_REPEATED = "Give 'page' once; it was given {count} times."
PAGE_PAST_THE_END = "Page {page} does not exist; there {are} {pages} page{s}."

# Longer numbers are past the end of any list this platform holds, and int() of a number
# thousands of digits long is slow (and refused by Python past 4,300 digits).
_PAGE_PATTERN = re.compile(r"0*[1-9][0-9]{0,17}")


class StrictPageNumberPagination(pagination.PageNumberPagination):
    last_page_strings = ()  # 'last' is not an integer, and the schema promises one

    def get_page_number(self, request, paginator) -> int:
        values = request.query_params.getlist(self.page_query_param)
        if not values:
            return 1
        if len(values) > 1:
            raise ValidationError({self.page_query_param: [PAGE_REPEATED.format(count=len(values))]})
        value = values[0]
        if not value.isascii() or not value.isdigit() or not value.strip("0"):
            raise ValidationError({self.page_query_param: [PAGE_NOT_A_NUMBER.format(value=value[:40])]})
        if not _PAGE_PATTERN.fullmatch(value):
            self._raise_past_the_end(page=value.lstrip("0"), pages=paginator.num_pages)
        return int(value)

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        page_size = self.get_page_size(request)
        if not page_size:
            return None
        paginator = self.django_paginator_class(queryset, page_size)
        page_number = self.get_page_number(request, paginator)
        try:
            self.page = paginator.page(page_number)
        except InvalidPage:
            self._raise_past_the_end(page=page_number, pages=paginator.num_pages)
        return list(self.page)

    @staticmethod
    def _raise_past_the_end(*, page, pages: int):
        raise NotFound(PAGE_PAST_THE_END.format(page=page, are="is" if pages == 1 else "are", pages=pages,
                                                s="" if pages == 1 else "s"))

    def get_schema_operation_parameters(self, view) -> list[dict]:
        return [{
            "name": self.page_query_param,
            "required": False,
            "in": "query",
            "description": "A page number from 1 up (default 1). A page that is not a whole number from 1 up, "
                           "or a repeated `page`, is a 400; a page past the last one is a 404.",
            "schema": {"type": "integer", "minimum": 1},
        }]
