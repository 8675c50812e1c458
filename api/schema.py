from drf_spectacular.utils import OpenApiResponse

"""The API's one error shape in the OpenAPI schema, for every app's views.

``api.errors.exception_handler`` (set in REST_FRAMEWORK) writes every API error this way;
the apps document their responses with this schema so the two cannot drift apart.
"""

ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "code": {"type": "string", "example": "invalid"},
        "message": {"type": "string", "example": "items[2].image_base64: Not valid base64."},
        "errors": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
    },
    "required": ["code", "message", "errors"],
}

ERROR_RESPONSES = {
    400: OpenApiResponse(ERROR_SCHEMA, description="Invalid input; `errors` names each field and its problem."),
    401: OpenApiResponse(ERROR_SCHEMA, description="Missing, unknown, expired or revoked token."),
    403: OpenApiResponse(ERROR_SCHEMA, description="The token lacks the scope for this operation."),
    429: OpenApiResponse(
        ERROR_SCHEMA,
        description="Over the token's rate limit (API_RATE_LIMIT, default 600 requests a minute); "
        "the `Retry-After` header says how many seconds to wait.",
    ),
}


NOT_FOUND = {404: OpenApiResponse(ERROR_SCHEMA, description="No such object.")}

UNKNOWN_REFERENCE = {
    404: OpenApiResponse(
        ERROR_SCHEMA, description="The request names an object that does not exist; `errors` names the field."
    )
}
STATE_CONFLICT = {
    409: OpenApiResponse(ERROR_SCHEMA, description="The objects' current state does not allow this; `errors` says why.")
}


def state_query_text_rules(result: dict, generator: object, request: object, public: bool) -> dict:
    """drf-spectacular post-processing hook: a text query parameter may not hold a NUL character (Django's
    form fields refuse it); the schema says so with a pattern, for a parameter without its own."""
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []) if isinstance(operation, dict) else []:
                schema = parameter.get("schema", {})
                plain_text = schema.get("type") == "string" and not {"enum", "format", "pattern"} & schema.keys()
                if parameter.get("in") == "query" and plain_text:
                    schema["pattern"] = r"^[^\x00]*$"
    return result


def require_bodies_that_need_fields(result: dict, generator: object, request: object, public: bool) -> dict:
    """drf-spectacular post-processing hook: a request body whose every form has required fields is itself
    required (drf-spectacular leaves it optional for a polymorphic body, such as an event or a batch of them,
    though a request without one is a 400)."""
    components = result.get("components", {}).get("schemas", {})

    def resolve(schema: dict) -> dict:
        ref = schema.get("$ref", "")
        return components.get(ref.rsplit("/", 1)[-1], {}) if ref else schema

    def needs_fields(schema: dict) -> bool:
        schema = resolve(schema)
        forms = schema.get("oneOf") or schema.get("anyOf")
        return all(needs_fields(form) for form in forms) if forms else bool(schema.get("required"))

    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            body = operation.get("requestBody") if isinstance(operation, dict) else None
            if body and "required" not in body and all(needs_fields(c["schema"]) for c in body["content"].values()):
                body["required"] = True
    return result
