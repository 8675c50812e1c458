"""Why a review action was refused. The API maps each to its status (``api.exceptions``)."""

from api.exceptions import Conflict, Invalid


class LeaseLost(Conflict):
    """The user does not hold this item (any more) under this token (HTTP 409)."""

    code = "lease_lost"


class InvalidDecision(Invalid):
    """The decision itself is malformed: unknown action or category, or a removal without one (HTTP 400)."""

    code = "invalid_decision"


class UnknownCategories(InvalidDecision):
    """The decision names categories that do not exist or are not active (HTTP 404): the request is well
    formed, but refers to what is not there (a schema cannot list which categories exist)."""

    status = 404
    code = "unknown_category"
