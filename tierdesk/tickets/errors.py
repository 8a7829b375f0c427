"""The refusal every action raises: a clear message, the field at fault, nothing written."""

from __future__ import annotations


class ActionError(Exception):
    def __init__(self, message: str, *, field: str | None = None, code: str = "invalid"):
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code


class NotFound(ActionError):
    """Raised by loaders for tickets that don't exist *or* that the user may not see.

    The two are deliberately the same answer: an outsider learns nothing.
    """

    def __init__(self, message: str = "No such ticket."):
        super().__init__(message, code="not_found")


class Forbidden(ActionError):
    def __init__(self, message: str = "You may not do that."):
        super().__init__(message, code="forbidden")
