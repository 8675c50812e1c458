"""Teaches drf-spectacular how the API authenticates, so the docs offer a bearer-token login."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerExtension


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.ApiTokenAuthentication"
    name = "bearerToken"

    def get_security_definition(self, auto_schema):  # noqa: ANN001, ANN201 - signature set by the library
        return {"type": "http", "scheme": "bearer"}


class StrictSerializerScheme(OpenApiSerializerExtension):
    """A StrictSerializer refuses fields it does not know: the schema says so (``additionalProperties: false``),
    so a client, or a schema-driven test generator, does not send extras the server will answer 400 to."""

    target_class = "api.serializers.StrictSerializer"
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):  # noqa: ANN001, ANN201 - signature set by the library
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        if direction == "request":
            schema["additionalProperties"] = False
            for field in schema.get("properties", {}).values():
                _state_text_rules(field.get("items", field))
            # Rules between fields (a removal names a category), stated where the serializer states them.
            schema.update(getattr(self.target, "schema_rules", {}))
        return schema


def _state_text_rules(field: dict) -> None:
    """DRF's text fields refuse NUL characters (PostgreSQL cannot store them) and, when blank is not allowed,
    text that is only whitespace (it is trimmed first). A pattern says so, for a field without one."""
    if field.get("type") != "string" or {"enum", "format", "pattern"} & field.keys():
        return
    field["pattern"] = r"^[^\x00]*[^\x00\s][^\x00]*$" if field.get("minLength", 0) >= 1 else r"^[^\x00]*$"
