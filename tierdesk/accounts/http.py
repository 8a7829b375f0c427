"""The request type of views that require a signed-in person (for type checking)."""

from django.http import HttpRequest

from tierdesk.accounts.models import User


class AuthedRequest(HttpRequest):
    user: User
