"""Sign-in throttling: failed sign-ins slow down, then lock out, per user name and per client address.

Every way in (the ``/login/`` page, the Django admin's login and ``POST /api/v1/auth/token``) signs
in through :func:`signin_attempt`, so one set of counters guards them all.

Rules (settings ``SIGNIN_*``, documented in ``.env.example``): failures are counted separately
for the user name (case-insensitive) and for the client address (REMOTE_ADDR, or the
X-Forwarded-For hop the trusted proxies vouch for; an IPv6 client counts by its /64, which one
subscriber usually holds whole). Once a counter reaches its slow-down threshold, each further
attempt must wait ``SIGNIN_BASE_DELAY_SECONDS * 2 ** (failures - threshold)`` (at most the
lockout); once it reaches its lockout threshold, every attempt, right password or not, is refused
for ``SIGNIN_LOCKOUT_SECONDS``, and each failure after a lockout locks out again. A refused
attempt is not checked and not counted, so hammering a locked account does not extend the lock.

A counter is forgotten ``SIGNIN_WINDOW_SECONDS`` after its first failure or, once it has made
someone wait, that long after the last wait ended: sitting out the waits never earns a fresh
count. A success deletes the user name's counter, not the address's: signing in to one's own
account must not wipe the trail of a password spray from the same address.

The counters are ``SignInThrottle`` rows, one per (scope, key). A failure updates both rows in one
short transaction under ``SELECT ... FOR UPDATE`` (user row first, then address row, always in
that order so two failures cannot deadlock), so concurrent failures each count. The cost of a
sign-in that succeeds is one indexed SELECT of at most two rows, plus one DELETE when the user
name had failures.

Every function takes ``now`` so tests can move the clock; interfaces leave it out.
"""
from __future__ import annotations

import ipaddress
import math
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import authenticate
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone

from labeling.models import SignInThrottle, User

SCOPE_USER = "user"
SCOPE_IP = "ip"
# A client whose address cannot be read still counts, in one shared bucket.
UNKNOWN_ADDRESS = "unknown"

SIGNIN_SLOWED_DOWN = "Too many failed sign-ins. Wait {wait} before trying again."
SIGNIN_LOCKED_OUT = ("Too many failed sign-ins: sign-in is locked for {wait}. Every attempt is refused until then, "
                     "even with the right password.")


class SignInRefused(Exception):
    """A sign-in that did not succeed."""


class SignInFailed(SignInRefused):
    """Wrong user name or password (or an inactive account); the interface words the message."""


class SignInThrottled(SignInRefused):
    """Refused without checking the password; ``str(error)`` says how long to wait."""

    def __init__(self, *, retry_after: int, locked_out: bool):
        self.retry_after = retry_after
        self.locked_out = locked_out
        template = SIGNIN_LOCKED_OUT if locked_out else SIGNIN_SLOWED_DOWN
        super().__init__(template.format(wait=wait_phrase(retry_after)))


@dataclass(frozen=True)
class ThrottleRule:
    slowdown_after: int
    lockout_after: int


def wait_phrase(seconds: int) -> str:
    """How long to wait, as the messages say it: seconds up to two minutes, then whole minutes."""
    if seconds < 120:
        return "1 second" if seconds == 1 else f"{seconds} seconds"
    return f"{math.ceil(seconds / 60)} minutes"


def _rules() -> dict[str, ThrottleRule]:
    # Read at call time so a settings change (or a test's override) takes effect at once.
    return {
        SCOPE_USER: ThrottleRule(settings.SIGNIN_USER_SLOWDOWN_AFTER, settings.SIGNIN_USER_LOCKOUT_AFTER),
        SCOPE_IP: ThrottleRule(settings.SIGNIN_IP_SLOWDOWN_AFTER, settings.SIGNIN_IP_LOCKOUT_AFTER),
    }


def signin_username_key(username: str) -> str:
    """The counter key of a user name: NFKC-normalised and case-folded, so "Ana" and "ANA" share one."""
    return unicodedata.normalize("NFKC", username).casefold()[:200]


def signin_address_key(address: str | None) -> str:
    """The counter key of a client address: the IPv4 address, or the /64 of an IPv6 one."""
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return UNKNOWN_ADDRESS
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def signin_client_address(*, remote_addr: str | None, forwarded_for: str | None = None) -> str:
    """The client's address key. X-Forwarded-For is honoured only when ``SIGNIN_TRUSTED_PROXY_COUNT``
    says how many proxies append to it: the client is then the hop that many places from the right
    (what a client writes itself lies further left, so it cannot pick its own address)."""
    proxies = settings.SIGNIN_TRUSTED_PROXY_COUNT
    if proxies > 0 and forwarded_for:
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        if hops:
            key = signin_address_key(hops[-proxies] if len(hops) >= proxies else hops[0])
            if key != UNKNOWN_ADDRESS:
                return key
    return signin_address_key(remote_addr)


def _counter_keys(*, username: str, client_address: str) -> list[tuple[str, str]]:
    # User first, then address: the lock order of signin_failure_record.
    return [(SCOPE_USER, signin_username_key(username)), (SCOPE_IP, client_address)]


def _refusal(rows: list[SignInThrottle], *, now: datetime) -> SignInThrottled | None:
    rules = _rules()
    limiting = [row for row in rows if row.locked_until is not None and row.locked_until > now]
    if not limiting:
        return None
    until = max(row.locked_until for row in limiting)
    return SignInThrottled(
        retry_after=max(1, math.ceil((until - now).total_seconds())),
        locked_out=any(row.failures >= rules[row.scope].lockout_after for row in limiting),
    )


def signin_check(*, username: str, client_address: str, now: datetime | None = None) -> list[SignInThrottle]:
    """Raise SignInThrottled while the user name or the address must wait; else return their counters."""
    now = now or timezone.now()
    keys = _counter_keys(username=username, client_address=client_address)
    rows = list(SignInThrottle.objects.filter(Q(scope=keys[0][0], key=keys[0][1]) | Q(scope=keys[1][0], key=keys[1][1])))
    refusal = _refusal(rows, now=now)
    if refusal is not None:
        raise refusal
    return rows


def _wait_after(*, failures: int, rule: ThrottleRule) -> timedelta | None:
    lockout = timedelta(seconds=settings.SIGNIN_LOCKOUT_SECONDS)
    if failures >= rule.lockout_after:
        return lockout
    if failures >= rule.slowdown_after:
        # Capped at the lockout: an address's slow-down may run many doublings before its lockout
        # (and the exponent too, so a generous lockout threshold cannot overflow timedelta).
        doublings = min(failures - rule.slowdown_after, 40)
        return min(timedelta(seconds=settings.SIGNIN_BASE_DELAY_SECONDS * 2 ** doublings), lockout)
    return None


def signin_failure_record(*, username: str, client_address: str, now: datetime | None = None) -> SignInThrottled | None:
    """Count one failure for the user name and for the address; return the refusal now in force, if any."""
    now = now or timezone.now()
    window = timedelta(seconds=settings.SIGNIN_WINDOW_SECONDS)
    rules = _rules()
    rows = []
    with transaction.atomic():
        for scope, key in _counter_keys(username=username, client_address=client_address):
            row, _ = SignInThrottle.objects.select_for_update().get_or_create(
                scope=scope, key=key, defaults={"failures": 0, "window_started_at": now})
            still_waiting = row.locked_until is not None and row.locked_until > now
            if max(row.window_started_at, row.locked_until or row.window_started_at) + window <= now:
                row.failures, row.window_started_at = 0, now
            row.failures += 1
            wait = _wait_after(failures=row.failures, rule=rules[scope])
            if wait is not None:
                row.locked_until = max(now + wait, row.locked_until) if still_waiting else now + wait
            elif not still_waiting:
                row.locked_until = None
            row.save(update_fields=["failures", "window_started_at", "locked_until"])
            rows.append(row)
    return _refusal(rows, now=now)


def signin_success_record(*, username: str, counters: list[SignInThrottle] | None = None) -> None:
    """Forget the user name's failures. ``counters`` (from signin_check) saves the DELETE when there are none."""
    key = signin_username_key(username)
    if counters is not None and not any(row.scope == SCOPE_USER and row.key == key for row in counters):
        return
    SignInThrottle.objects.filter(scope=SCOPE_USER, key=key).delete()


def signin_attempt(*, username: str, password: str, client_address: str, request: HttpRequest | None = None,
                   now: datetime | None = None) -> User:
    """Sign in through the throttle. Returns the user; raises SignInThrottled (wait, the password was
    not checked, or this failure started a wait) or SignInFailed (wrong credentials).

    ``request`` only goes on to the authentication backends and Django's ``user_login_failed`` signal.
    """
    now = now or timezone.now()
    counters = signin_check(username=username, client_address=client_address, now=now)
    user = authenticate(request, username=username, password=password)
    if user is None:
        refusal = signin_failure_record(username=username, client_address=client_address, now=now)
        if refusal is not None:
            raise refusal
        raise SignInFailed()
    signin_success_record(username=username, counters=counters)
    return user
