"""The API's one error shape in the OpenAPI schema, for every app's views.

``queues.api_errors.exception_handler`` (set in REST_FRAMEWORK) writes every API error this way;
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
