"""Language and time zone from the person's preferences, then the browser / provider."""

import zoneinfo

from django.utils import timezone, translation

from tierdesk.accounts.models import Provider


class UserLanguageMiddleware:
    """Put the signed-in person's language where LocaleMiddleware looks first.

    Runs before LocaleMiddleware; the session's user is read lazily, so the
    language cookie carries the preference across requests.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if _api_token_request(request):
            return response  # an API client keeps no cookies: its language is its user's
        user = getattr(request, "user", None)
        if (user is not None and user.is_authenticated and user.language
                and request.COOKIES.get("django_language") != user.language):
            response.set_cookie("django_language", user.language, samesite="Lax")
        return response


class UserTimezoneMiddleware:
    """Show instants in the viewer's zone: theirs, else the provider's."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if _api_token_request(request):
            # API views answer in UTC and in the token user's language (api/views/base.py):
            # neither the session's user nor the provider's zone (a query) is needed.
            timezone.activate(_UTC)
            return self.get_response(request)
        name = ""
        if request.user.is_authenticated:
            name = request.user.time_zone
            if request.user.language:
                translation.activate(request.user.language)
                request.LANGUAGE_CODE = request.user.language
        if not name:
            name = Provider.current().time_zone
        try:
            timezone.activate(zoneinfo.ZoneInfo(name))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            timezone.deactivate()
        return self.get_response(request)


_UTC = zoneinfo.ZoneInfo("UTC")


def _api_token_request(request) -> bool:
    return request.path_info.startswith("/api/") and request.META.get(
        "HTTP_AUTHORIZATION", "")[:7].lower() == "bearer "
