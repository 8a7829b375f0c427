"""Cursor paging: stable under inserts, and no COUNT(*) over a large table."""

from __future__ import annotations

from rest_framework.pagination import CursorPagination


class Cursor(CursorPagination):
    """Pages of 25 (up to 100 with `page_size`); the view may name its ordering."""

    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 100
    ordering = ("-id",)

    def get_ordering(self, request, queryset, view):
        ordering = getattr(view, "cursor_ordering", None)
        if callable(ordering):
            ordering = ordering()
        return tuple(ordering or self.ordering)
