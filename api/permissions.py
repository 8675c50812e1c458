"""Who may call which API operation."""

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from api.models import ApiToken


def scopes_for(view: Any, method: str) -> tuple[str, ...]:
    """The scopes that each allow ``method`` on ``view`` (any one is enough); empty when none is declared.

    Views declare ``required_scope = {"GET": "items:read", "POST": ("a", "b")}``; a tuple means any of.
    HEAD is answered by GET and needs what GET needs.
    """
    declared = getattr(view, "required_scope", {}).get("GET" if method == "HEAD" else method)
    if declared is None:
        return ()
    return (declared,) if isinstance(declared, str) else tuple(declared)


class HasTokenScope(BasePermission):
    """A token must carry one of the view's ``required_scope`` for the method (``admin`` carries all);
    a browser session must be a staff user's.

    A view that forgets ``required_scope`` is refused to everyone, so a new endpoint is closed until
    someone decides who may use it.
    """

    message = "This token does not carry the scope this operation needs."

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.user is None or not request.user.is_authenticated:
            return False
        scopes = scopes_for(view, request.method)
        if not scopes:
            return False
        if isinstance(request.auth, ApiToken):
            names = " or ".join(f"'{scope}'" for scope in scopes)
            self.message = f"This token lacks the {names} scope."
            return any(request.auth.has_scope(scope) for scope in scopes)
        if getattr(view, "session_users_allowed", False):
            return True  # the service behind the view checks what this user may touch
        self.message = "Only staff users may call the API with a browser session; use an API token."
        return bool(request.user.is_staff)


class StaffUsersOnly(BasePermission):
    """For data that holds item content in bulk (training snapshots): a staff user's token or session only.
    Any other user's token is bounded by the queues its user works, which a bulk export cannot respect."""

    message = "Only a staff user's token may read this: it holds item content of every queue."

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user is not None and request.user.is_authenticated and request.user.is_staff)


Scope = ApiToken.Scope
# Reference data every integrator needs to read its own results (which queue, which category slug).
REFERENCE_SCOPES = (Scope.ITEMS_READ, Scope.DECISIONS_READ, Scope.DECISIONS_WRITE)
