"""Language and time zone from the person's preferences, then the browser / provider."""

import zoneinfo

from django.contrib.auth.middleware import AuthenticationMiddleware as _Authentication
from django.contrib.messages.middleware import MessageMiddleware as _Messages
from django.contrib.sessions.middleware import SessionMiddleware as _Sessions
from django.middleware.csrf import CsrfViewMiddleware as _Csrf
from django.utils import timezone, translation

from tierdesk.accounts.models import Provider


def _passed_by_api_tokens(base: type) -> type:
    """Django's `base` middleware, except that an API request with a bearer token goes
    straight through it. Such a request has no session, no CSRF cookie (API views are
    CSRF-exempt; a session is only read when no token is sent), no messages, and its user
    is the token's (DRF sets it on the request); these middleware would only build lazy
    objects nobody reads and check for changes nobody made: 118 µs a request, 6 µs now
    (docs/PERFORMANCE.md, "API"). The headers they add on such a request — none — stay
    the same; the security, common, locale and clickjacking middleware still run."""

    def __call__(self, request):
        if _api_token_request(request):
            return self.get_response(request)
        return base.__call__(self, request)

    return type(base.__name__, (base,), {"__call__": __call__, "__module__": __name__,
                                         "__doc__": base.__doc__})


SessionMiddleware = _passed_by_api_tokens(_Sessions)
CsrfViewMiddleware = _passed_by_api_tokens(_Csrf)
AuthenticationMiddleware = _passed_by_api_tokens(_Authentication)
MessageMiddleware = _passed_by_api_tokens(_Messages)


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
