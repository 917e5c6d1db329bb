"""People: creating platform users with a role and, for labelers, a pool."""
from __future__ import annotations

from django.db import transaction

from labeling.calibration.audit import AuditAction, audit_record
from labeling.models import Pool, Role, User

ROLE_UNKNOWN = "'{role}' is not a role; choose one of: {roles}."
LABELER_NEEDS_POOL = "A labeler must belong to a pool."
USERNAME_TAKEN = "The username '{username}' is already taken."


class UserCreateError(ValueError):
    pass


def user_create(*, username: str, password: str, role: str, pool: Pool | None = None,
                created_by: User | None = None, is_simulated: bool = False) -> User:
    """Create a user; every labeler belongs to a pool so their quality is reported per pool. The
    new user's role and pool go to the audit trail in the same transaction, with ``created_by``
    as the actor (none for the demo's set-up and the simulator)."""
    if role not in Role.values:
        raise UserCreateError(ROLE_UNKNOWN.format(role=role, roles=", ".join(Role.values)))
    if role == Role.LABELER and pool is None:
        raise UserCreateError(LABELER_NEEDS_POOL)
    if User.objects.filter(username=username).exists():
        raise UserCreateError(USERNAME_TAKEN.format(username=username))
    with transaction.atomic():
        user = User(username=username, role=role, pool=pool, is_staff=role == Role.ADMIN, is_simulated=is_simulated)
        user.set_password(password)
        user.save()
        audit_record(actor=created_by, action=AuditAction.USER_CREATED, target=user,
                     details={"username": user.username, "role": user.role, "pool": user.pool_id,
                              "simulated": user.is_simulated})
    return user
