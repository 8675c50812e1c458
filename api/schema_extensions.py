"""Teaches drf-spectacular how the API authenticates, so the docs offer a bearer-token login."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.ApiTokenAuthentication"
    name = "bearerToken"

    def get_security_definition(self, auto_schema):  # noqa: ANN001, ANN201 - signature set by the library
        return {"type": "http", "scheme": "bearer"}
