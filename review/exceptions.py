"""Why a review action was refused. The API maps each to its status (``api.exceptions``)."""

from api.exceptions import Conflict, Invalid


class LeaseLost(Conflict):
    """The user does not hold this item (any more) under this token (HTTP 409)."""

    code = "lease_lost"


class InvalidDecision(Invalid):
    """The decision itself is malformed: unknown action or category, or a removal without one (HTTP 400)."""

    code = "invalid_decision"
