"""Who may call which API operation."""

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from queues.models import ApiToken


class HasTokenScope(BasePermission):
    """A token must carry the view's ``required_scope``; a browser session must be a staff user's.

    Views declare ``required_scope``. A view that forgets it is refused to everyone, so a new
    endpoint is closed until someone decides who may use it.
    """

    message = "This token does not carry the scope this operation needs."

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.user is None or not request.user.is_authenticated:
            return False
        scope = getattr(view, "required_scope", {}).get(request.method)
        if scope is None:
            return False
        if isinstance(request.auth, ApiToken):
            self.message = f"This token lacks the '{scope}' scope."
            return request.auth.has_scope(scope)
        if getattr(view, "session_users_allowed", False):
            return True  # the service behind the view checks what this user may touch
        self.message = "Only staff users may call the API with a browser session; use an API token."
        return bool(request.user.is_staff)
