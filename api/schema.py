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
