"""What every API view shares: times in UTC, messages in the caller's language."""

from __future__ import annotations

from datetime import UTC

from django.utils import timezone, translation
from rest_framework.generics import GenericAPIView
from rest_framework.views import APIView


class ApiMixin:
    # Times in UTC (`Z`): an API client compares them, a person does not read them.
    # Messages (refusals included) in the token user's language, else Accept-Language.

    def initial(self, request, *args, **kwargs):
        timezone.activate(UTC)
        result = super().initial(request, *args, **kwargs)  # type: ignore[misc]
        language = getattr(request.user, "language", "")
        if language:
            translation.activate(language)
            request.LANGUAGE_CODE = language
        return result


class ApiView(ApiMixin, APIView):
    pass


class ApiListView(ApiMixin, GenericAPIView):
    pass


def parse(serializer_class, request, **kwargs) -> dict:
    """The request's body through an input serializer; a 400 problem if it does not fit."""
    serializer = serializer_class(data=request.data, context={"request": request}, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
