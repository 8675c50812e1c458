"""Refusals a domain service raises, each carrying the HTTP status and error code the API answers with.

Domain apps subclass these (``review.exceptions.LeaseLost(Conflict)``), so the API's exception handler
(``api.errors``) maps them without importing any domain app: the plumbing stays a leaf.
"""


class Refused(Exception):
    """A request the service refuses; ``status`` and ``code`` are what the API answers."""

    status = 400
    code = "invalid"


class Invalid(Refused, ValueError):
    status = 400


class Forbidden(Refused, PermissionError):
    status = 403


class Conflict(Refused, RuntimeError):
    status = 409
