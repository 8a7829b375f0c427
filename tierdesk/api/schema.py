"""The OpenAPI document: our authentication and the problem responses of every operation."""

from __future__ import annotations

from http import HTTPStatus

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from rest_framework import serializers

from tierdesk.api.problems import MEDIA_TYPE


class ProblemErrorSerializer(serializers.Serializer):
    field = serializers.CharField(allow_null=True)
    detail = serializers.CharField()
    code = serializers.CharField()


class ProblemSerializer(serializers.Serializer):
    """RFC 9457 problem details."""

    type = serializers.CharField(help_text="A URI naming the kind of problem.")
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField(help_text="What went wrong, for a person to read.")
    code = serializers.CharField(help_text="The kind of problem, as a stable code.")
    field = serializers.CharField(required=False, help_text="The input at fault.")
    errors = ProblemErrorSerializer(many=True, required=False)


class AutoSchema(SpectacularAutoSchema):
    """Documents the problem responses every operation may give, so clients (and
    schemathesis) know an error's shape and status beforehand."""

    def _error_statuses(self) -> list[str]:
        codes = ["400", "401", "403", "404", "429"]
        if self.method in ("POST", "PUT", "PATCH"):
            codes += ["409", "415"]
        return codes

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code in self._error_statuses():
            if code not in responses:
                responses[code] = self._get_response_for_code(
                    ProblemSerializer, code, media_types=[MEDIA_TYPE], direction=direction)
                responses[code]["description"] = HTTPStatus(int(code)).phrase
        return responses


class TokenScheme(OpenApiAuthenticationExtension):
    target_class = "tierdesk.api.auth.TokenAuthentication"
    name = "token"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "tdk_<prefix>_<secret>",
                "description": "An API token made in the admin or with "
                               "`tierdesk api token create EMAIL`."}
