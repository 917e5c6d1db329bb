"""API tokens: issue, check, revoke.

A token is a random key shown once, when issued; the database keeps only its sha256, so a leaked
table or backup holds no usable key. A token works until the first of:

- ``expires_at`` (``API_TOKEN_TTL_SECONDS`` after issue);
- ``revoked_at`` (the client signed out with ``DELETE /api/v1/auth/token``, revoked all its tokens,
  or an admin used the "revoke" action);
- a change of the user's credentials: each token records the fingerprint of the user's password
  hash, role, pool and active flag when it was issued, and a token whose fingerprint no longer
  matches is refused. Whatever made the change (the admin, a service, the shell, a raw UPDATE), no
  code has to remember to revoke tokens. A stale token is marked revoked the first time it is
  refused, so changing a role back does not bring it back to life (see docs/SECURITY.md for the
  one window this leaves: a change undone before the token is next used).

Checking a token costs one SELECT of the token joined to its user.

Every function takes ``now`` so tests can move the clock; interfaces leave it out.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Iterable

from django.conf import settings
from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from labeling.models import ApiToken, User
from labeling.services.rows import instances_from_row, select_columns

API_TOKEN_INVALID = "This API token is not valid; get a new one with POST /api/v1/auth/token."
API_TOKEN_EXPIRED = "This API token has expired; get a new one with POST /api/v1/auth/token."
API_TOKEN_REVOKED = "This API token was revoked; get a new one with POST /api/v1/auth/token."
API_TOKEN_CREDENTIALS_CHANGED = ("This API token was revoked because the account's password, role or pool changed; "
                                 "sign in again with POST /api/v1/auth/token.")
API_TOKEN_USER_INACTIVE = "This account is deactivated; its API tokens no longer work."

# 32 random bytes, URL-safe base64: 43 characters, no spaces, so it fits "Authorization: Token <key>".
KEY_BYTES = 32


class ApiTokenRefused(Exception):
    """A token that does not authenticate; ``code`` and ``str(error)`` go into the 401."""

    code = "token_invalid"


class ApiTokenInvalid(ApiTokenRefused):
    code = "token_invalid"


class ApiTokenExpired(ApiTokenRefused):
    code = "token_expired"


class ApiTokenRevoked(ApiTokenRefused):
    code = "token_revoked"


class ApiTokenCredentialsChanged(ApiTokenRefused):
    code = "token_credentials_changed"


class ApiTokenUserInactive(ApiTokenRefused):
    code = "user_inactive"


def api_token_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def credentials_fingerprint(user: User) -> str:
    """sha256 of what, once changed, must end every session the user holds through a token."""
    material = "\x1f".join([user.password, user.role, str(user.pool_id or ""), "1" if user.is_active else "0"])
    return hashlib.sha256(material.encode()).hexdigest()


def _ttl() -> timedelta:
    return timedelta(seconds=settings.API_TOKEN_TTL_SECONDS)


def _token_build(*, user: User, now: datetime) -> tuple[str, ApiToken]:
    key = secrets.token_urlsafe(KEY_BYTES)
    return key, ApiToken(key_sha256=api_token_digest(key), user=user, credentials_fingerprint=credentials_fingerprint(user),
                         expires_at=now + _ttl())


def api_token_issue(*, user: User, now: datetime | None = None) -> tuple[str, ApiToken]:
    """A new token for ``user``: returns the raw key (shown once, never stored) and the row.

    Each sign-in gets its own token, so signing out one client leaves the others signed in. Rows
    of the user's tokens that expired more than a TTL ago are deleted here, which keeps the table
    at about one TTL's worth of sign-ins without a cleanup job.
    """
    now = now or timezone.now()
    key, token = _token_build(user=user, now=now)
    token.save()
    ApiToken.objects.filter(user=user, expires_at__lte=now - _ttl()).delete()
    return key, token


def api_tokens_issue_bulk(*, users: Iterable[User], now: datetime | None = None) -> list[str]:
    """One token per user in a single INSERT (benchmarks seed thousands); returns the raw keys in order."""
    now = now or timezone.now()
    built = [_token_build(user=user, now=now) for user in users]
    ApiToken.objects.bulk_create([token for _, token in built])
    return [key for key, _ in built]


def _token_with_user(digest: str) -> ApiToken | None:
    """The token row with this digest and its user, from one hand-written SELECT: every API request
    authenticates, and compiling the ORM form of this join cost more CPU than the rest of a claim's
    bookkeeping (benchmarks/RESULTS_queue.md, issue 13)."""
    with connection.cursor() as cursor:
        cursor.execute(_TOKEN_WITH_USER_SQL, [digest])
        row = cursor.fetchone()
    if row is None:
        return None
    token, user = instances_from_row(row, (ApiToken, User))
    token.user = user
    return token


_TOKEN_WITH_USER_SQL = (
    f"SELECT {select_columns(ApiToken, 't')}, {select_columns(User, 'u')} FROM {ApiToken._meta.db_table} t"
    f" JOIN {User._meta.db_table} u ON u.id = t.user_id WHERE t.key_sha256 = %s"
)


def api_token_authenticate(*, key: str, now: datetime | None = None) -> ApiToken:
    """The live token with this raw key, its user loaded; raises an ApiTokenRefused subclass otherwise."""
    now = now or timezone.now()
    token = _token_with_user(api_token_digest(key))
    if token is None:
        raise ApiTokenInvalid(API_TOKEN_INVALID)
    if token.revoked_at is not None:
        raise ApiTokenRevoked(API_TOKEN_REVOKED)
    if token.expires_at <= now:
        raise ApiTokenExpired(API_TOKEN_EXPIRED)
    user = token.user
    current = credentials_fingerprint(user)
    stale = not hmac.compare_digest(token.credentials_fingerprint, current)
    if stale:
        # Revoke every stale token of the user now, so that undoing the change later (a role set
        # back, an account reactivated) does not revive them.
        ApiToken.objects.filter(user=user, revoked_at__isnull=True).exclude(credentials_fingerprint=current) \
            .update(revoked_at=now)
    if not user.is_active:
        raise ApiTokenUserInactive(API_TOKEN_USER_INACTIVE)
    if stale:
        raise ApiTokenCredentialsChanged(API_TOKEN_CREDENTIALS_CHANGED)
    return token


def api_token_revoke(*, token: ApiToken, now: datetime | None = None) -> None:
    """Revoke one token (signing a client out). Revoking a revoked token changes nothing."""
    api_tokens_revoke(tokens=ApiToken.objects.filter(pk=token.pk), now=now)


def api_tokens_revoke(*, tokens: QuerySet[ApiToken], now: datetime | None = None) -> int:
    """Revoke the live tokens among ``tokens`` in one UPDATE; returns how many were live."""
    now = now or timezone.now()
    return tokens.filter(revoked_at__isnull=True, expires_at__gt=now).update(revoked_at=now)


def api_tokens_revoke_all(*, user: User, now: datetime | None = None) -> int:
    """Revoke every live token of ``user`` (sign out everywhere); returns how many there were."""
    return api_tokens_revoke(tokens=ApiToken.objects.filter(user=user), now=now)
