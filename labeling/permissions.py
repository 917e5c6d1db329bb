"""Role checks for API views and pages. Admins (role or superuser) pass every check."""
from __future__ import annotations

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission

from labeling.models import Role

ROLE_REQUIRED_MESSAGE = "This requires the role {roles}; you are signed in as {role}."


def user_has_role(user, *roles: str) -> bool:
    return bool(user and user.is_authenticated and user.has_role(*roles))


class RolePermission(BasePermission):
    roles: tuple[str, ...] = ()

    def has_permission(self, request, view) -> bool:
        if user_has_role(request.user, *self.roles):
            return True
        if request.user and request.user.is_authenticated:
            self.message = ROLE_REQUIRED_MESSAGE.format(roles=" or ".join(self.roles), role=request.user.role)
        return False


class IsLabeler(RolePermission):
    roles = (Role.LABELER,)


class IsExpert(RolePermission):
    roles = (Role.EXPERT,)


class IsEngineer(RolePermission):
    roles = (Role.ENGINEER,)


class IsStaffRole(RolePermission):
    """Experts and engineers (and admins): anyone who is not a labeler."""

    roles = (Role.EXPERT, Role.ENGINEER)


class CanLabel(RolePermission):
    """Who may claim and submit work: labelers, and experts answering calibration or golden items."""

    roles = (Role.LABELER, Role.EXPERT)


def role_required(*roles: str):
    """Page decorator: anonymous users go to the login page, wrong roles get 403."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not user_has_role(request.user, *roles):
                raise PermissionDenied(ROLE_REQUIRED_MESSAGE.format(roles=" or ".join(roles), role=request.user.role))
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
