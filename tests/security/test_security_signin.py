"""Sign-in throttling: repeated failures slow down, then lock out, per user name and per client
address, on the /login/ page, the admin's login and the token endpoint; it recovers after the window.

The service tests move the clock through ``now``; the HTTP tests let time pass by moving the
counters' timestamps back (``time_passes``), so nothing sleeps."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from labeling.api import BAD_CREDENTIALS
from labeling.models import SignInThrottle, User
from labeling.services.signin import (
    SCOPE_IP,
    SCOPE_USER,
    SIGNIN_LOCKED_OUT,
    SIGNIN_SLOWED_DOWN,
    SignInFailed,
    SignInThrottled,
    signin_address_key,
    signin_attempt,
    signin_client_address,
    signin_failure_record,
    wait_phrase,
)
from tests.security.conftest import PASSWORD

pytestmark = pytest.mark.django_db

ADDRESS = "203.0.113.7"
OTHER_ADDRESS = "198.51.100.9"
LOCKOUT_SECONDS = 900


@pytest.fixture(autouse=True)
def throttle_rules(settings):
    """The documented defaults, pinned so an environment override cannot change what is tested."""
    settings.SIGNIN_WINDOW_SECONDS = 900
    settings.SIGNIN_USER_SLOWDOWN_AFTER = 5
    settings.SIGNIN_USER_LOCKOUT_AFTER = 10
    settings.SIGNIN_IP_SLOWDOWN_AFTER = 20
    settings.SIGNIN_IP_LOCKOUT_AFTER = 50
    settings.SIGNIN_BASE_DELAY_SECONDS = 1
    settings.SIGNIN_LOCKOUT_SECONDS = LOCKOUT_SECONDS
    settings.SIGNIN_TRUSTED_PROXY_COUNT = 0


@pytest.fixture
def labeler(users):
    return users["labeler"]


def attempt(username, password, *, now, address=ADDRESS):
    return signin_attempt(username=username, password=password, client_address=address, now=now)


def fail_until_waiting(username, *, now, address=ADDRESS) -> tuple[SignInThrottled, timedelta]:
    """Fail (waiting out each slow-down) until the next failure locks out; returns that lockout and the time used."""
    elapsed = timedelta(0)
    while True:
        try:
            attempt(username, "wrong", now=now + elapsed, address=address)
        except SignInFailed:
            continue
        except SignInThrottled as refusal:
            if refusal.locked_out:
                return refusal, elapsed
            elapsed += timedelta(seconds=refusal.retry_after)


def time_passes(seconds: float) -> None:
    """Age every sign-in counter as if ``seconds`` had passed."""
    delta = timedelta(seconds=seconds)
    SignInThrottle.objects.update(window_started_at=F("window_started_at") - delta)
    SignInThrottle.objects.exclude(locked_until=None).update(locked_until=F("locked_until") - delta)


def post_login(client, username, password, address=ADDRESS):
    return client.post(reverse("frontend:login"), {"username": username, "password": password}, REMOTE_ADDR=address)


def post_token(username, password, address=ADDRESS):
    return APIClient().post("/api/v1/auth/token", {"username": username, "password": password}, format="json",
                            REMOTE_ADDR=address)


# --- The service -------------------------------------------------------------------------------

def test_the_fifth_failure_starts_a_wait_that_doubles_with_each_further_failure(labeler):
    now = timezone.now()
    for _ in range(4):
        with pytest.raises(SignInFailed):
            attempt(labeler.username, "wrong", now=now)
    waits = []
    for _ in range(6):
        with pytest.raises(SignInThrottled) as refusal:
            attempt(labeler.username, "wrong", now=now)
        waits.append((refusal.value.retry_after, refusal.value.locked_out))
        now += timedelta(seconds=refusal.value.retry_after)
    assert waits == [(1, False), (2, False), (4, False), (8, False), (16, False), (LOCKOUT_SECONDS, True)]


def test_an_attempt_during_the_wait_is_refused_unchecked_and_uncounted(labeler):
    now = timezone.now()
    for _ in range(4):
        with pytest.raises(SignInFailed):
            attempt(labeler.username, "wrong", now=now)
    with pytest.raises(SignInThrottled):
        attempt(labeler.username, "wrong", now=now)
    for _ in range(3):
        with pytest.raises(SignInThrottled) as refusal:
            attempt(labeler.username, PASSWORD, now=now + timedelta(milliseconds=500))
        assert str(refusal.value) == SIGNIN_SLOWED_DOWN.format(wait="1 second")
    assert SignInThrottle.objects.get(scope=SCOPE_USER).failures == 5
    assert attempt(labeler.username, PASSWORD, now=now + timedelta(seconds=1)) == labeler


def test_a_locked_user_name_is_refused_even_with_the_right_password_and_told_how_long(labeler):
    start = timezone.now()
    lockout, elapsed = fail_until_waiting(labeler.username, now=start)
    assert str(lockout) == SIGNIN_LOCKED_OUT.format(wait="15 minutes")
    with pytest.raises(SignInThrottled) as refusal:
        attempt(labeler.username, PASSWORD, now=start + elapsed + timedelta(minutes=10))
    assert refusal.value.locked_out
    assert refusal.value.retry_after == 5 * 60
    assert str(refusal.value) == SIGNIN_LOCKED_OUT.format(wait="5 minutes")


def test_sign_in_recovers_once_the_lockout_and_the_window_have_passed(labeler):
    start = timezone.now()
    _, elapsed = fail_until_waiting(labeler.username, now=start)
    after_lockout = start + elapsed + timedelta(seconds=LOCKOUT_SECONDS)
    assert attempt(labeler.username, PASSWORD, now=after_lockout) == labeler
    assert not SignInThrottle.objects.filter(scope=SCOPE_USER).exists()
    # A fresh count: the next failures run at full speed again.
    for _ in range(4):
        with pytest.raises(SignInFailed):
            attempt(labeler.username, "wrong", now=after_lockout)


def test_a_failure_after_a_lockout_locks_out_again_until_a_quiet_window_has_passed(labeler):
    start = timezone.now()
    _, elapsed = fail_until_waiting(labeler.username, now=start)
    lockout_over = start + elapsed + timedelta(seconds=LOCKOUT_SECONDS)
    with pytest.raises(SignInThrottled) as refusal:
        attempt(labeler.username, "wrong", now=lockout_over)
    assert refusal.value.locked_out
    quiet_window_over = lockout_over + timedelta(seconds=LOCKOUT_SECONDS + 900)
    with pytest.raises(SignInFailed):
        attempt(labeler.username, "wrong", now=quiet_window_over)
    assert SignInThrottle.objects.get(scope=SCOPE_USER).failures == 1


def test_failures_older_than_the_window_are_forgotten(labeler):
    start = timezone.now()
    for _ in range(4):
        with pytest.raises(SignInFailed):
            attempt(labeler.username, "wrong", now=start)
    with pytest.raises(SignInFailed):
        attempt(labeler.username, "wrong", now=start + timedelta(seconds=900))
    assert SignInThrottle.objects.get(scope=SCOPE_USER).failures == 1


def test_a_success_clears_the_user_name_count_but_not_the_address_count(labeler):
    now = timezone.now()
    for _ in range(3):
        with pytest.raises(SignInFailed):
            attempt(labeler.username, "wrong", now=now)
    attempt(labeler.username, PASSWORD, now=now)
    assert not SignInThrottle.objects.filter(scope=SCOPE_USER).exists()
    assert SignInThrottle.objects.get(scope=SCOPE_IP, key=ADDRESS).failures == 3


def test_user_names_are_counted_without_regard_to_case(labeler):
    now = timezone.now()
    for name in ("Labeler-User", "LABELER-USER", "labeler-user", "LaBeLeR-uSeR"):
        with pytest.raises(SignInFailed):
            attempt(name, "wrong", now=now)
    with pytest.raises(SignInThrottled):
        attempt("labeler-USER", "wrong", now=now)
    assert SignInThrottle.objects.get(scope=SCOPE_USER).failures == 5


def test_one_address_spraying_many_user_names_slows_down_then_locks_out(users):
    now = timezone.now()
    for number in range(19):
        with pytest.raises(SignInFailed):
            attempt(f"guess-{number}", "wrong", now=now)
    with pytest.raises(SignInThrottled) as refusal:
        attempt("guess-19", "wrong", now=now)
    assert (refusal.value.retry_after, refusal.value.locked_out) == (1, False)
    # The address waits for every user name, the right password of a real account included...
    with pytest.raises(SignInThrottled):
        attempt(users["expert"].username, PASSWORD, now=now)
    # ...while the same account from another address is not held up.
    assert attempt(users["expert"].username, PASSWORD, now=now, address=OTHER_ADDRESS) == users["expert"]
    for number in range(20, 50):
        rows = list(SignInThrottle.objects.filter(scope=SCOPE_IP, key=ADDRESS))
        now = max(now, rows[0].locked_until)
        with pytest.raises(SignInThrottled) as refusal:
            attempt(f"guess-{number}", "wrong", now=now)
    assert refusal.value.locked_out
    assert refusal.value.retry_after == LOCKOUT_SECONDS


def test_an_address_slow_down_is_capped_at_the_lockout_time():
    now = timezone.now()
    waits = []
    for number in range(49):
        refusal = signin_failure_record(username=f"guess-{number}", client_address=ADDRESS, now=now)
        if refusal is not None:
            waits.append(refusal.retry_after)
            now += timedelta(seconds=refusal.retry_after)
    assert waits[:10] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
    assert set(waits[10:]) == {LOCKOUT_SECONDS}


@pytest.mark.django_db(transaction=True)
def test_concurrent_failures_each_count(labeler):
    if connection.vendor != "postgresql":
        pytest.fail("this race needs PostgreSQL's row locks; run the suite with DATABASE_URL on PostgreSQL")
    threads, start, now = 8, threading.Barrier(8), timezone.now()
    errors = []

    def fail_once():
        try:
            start.wait()
            signin_failure_record(username=labeler.username, client_address=ADDRESS, now=now)
        except Exception as error:  # reported below; a thread's exception is otherwise lost
            errors.append(error)
        finally:
            connection.close()

    workers = [threading.Thread(target=fail_once) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    counters = {row.scope: row.failures for row in SignInThrottle.objects.all()}
    assert counters == {SCOPE_USER: threads, SCOPE_IP: threads}


def test_a_successful_sign_in_with_no_failures_costs_two_queries(labeler, django_assert_num_queries):
    # The counters (one SELECT of at most two rows) and authenticate()'s user lookup.
    with django_assert_num_queries(2):
        attempt(labeler.username, PASSWORD, now=timezone.now())


# --- Client addresses --------------------------------------------------------------------------

def test_x_forwarded_for_is_ignored_unless_a_proxy_is_trusted():
    assert signin_client_address(remote_addr=ADDRESS, forwarded_for="10.9.8.7") == ADDRESS


def test_with_one_trusted_proxy_the_client_is_the_hop_it_appended(settings):
    settings.SIGNIN_TRUSTED_PROXY_COUNT = 1
    # The client wrote "10.9.8.7" itself; the proxy appended the address it saw.
    assert signin_client_address(remote_addr="127.0.0.1", forwarded_for=f"10.9.8.7, {ADDRESS}") == ADDRESS


def test_with_two_trusted_proxies_the_client_is_the_second_hop_from_the_right(settings):
    settings.SIGNIN_TRUSTED_PROXY_COUNT = 2
    assert signin_client_address(remote_addr="127.0.0.1", forwarded_for=f"10.9.8.7, {ADDRESS}, 10.0.0.2") == ADDRESS


def test_a_garbled_forwarded_header_falls_back_to_the_remote_address(settings):
    settings.SIGNIN_TRUSTED_PROXY_COUNT = 1
    assert signin_client_address(remote_addr=ADDRESS, forwarded_for="not-an-address") == ADDRESS


def test_an_ipv6_client_counts_by_its_64_prefix():
    assert signin_address_key("2001:db8:1:2:aaaa::1") == signin_address_key("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert signin_address_key("::ffff:203.0.113.7") == ADDRESS


def test_waits_are_worded_in_seconds_then_minutes():
    assert [wait_phrase(s) for s in (1, 16, 119, 120, 900, 901)] == [
        "1 second", "16 seconds", "119 seconds", "2 minutes", "15 minutes", "16 minutes"]


# --- The /login/ page --------------------------------------------------------------------------

def test_login_page_slows_down_then_locks_out_and_says_how_long_to_wait(client, labeler):
    for _ in range(4):
        response = post_login(client, labeler.username, "wrong")
        assert response.status_code == 200
        assert "didn't match" in response.content.decode()
    response = post_login(client, labeler.username, "wrong")
    assert response.status_code == 429
    assert response["Retry-After"] == "1"
    assert SIGNIN_SLOWED_DOWN.format(wait="1 second") in response.content.decode()
    for _ in range(5):
        time_passes(int(response["Retry-After"]))
        response = post_login(client, labeler.username, "wrong")
    assert response.status_code == 429
    assert response["Retry-After"] == str(LOCKOUT_SECONDS)
    time_passes(60)
    response = post_login(client, labeler.username, PASSWORD)
    assert response.status_code == 429
    assert SIGNIN_LOCKED_OUT.format(wait="14 minutes") in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_login_page_signs_in_again_after_the_lockout(client, labeler):
    for _ in range(10):
        post_login(client, labeler.username, "wrong")
        time_passes(30)
    assert post_login(client, labeler.username, PASSWORD).status_code == 429
    time_passes(LOCKOUT_SECONDS)
    response = post_login(client, labeler.username, PASSWORD)
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(labeler.pk)


def test_login_page_locks_an_address_that_tries_many_user_names(client, users):
    for number in range(20):
        post_login(client, f"guess-{number}", "wrong")
    assert post_login(client, users["expert"].username, PASSWORD).status_code == 429
    assert post_login(client, users["expert"].username, PASSWORD, address=OTHER_ADDRESS).status_code == 302


def test_admin_login_shares_the_counters_and_refuses_a_locked_user(client, db):
    User.objects.create_superuser(username="root", password=PASSWORD)
    for _ in range(10):
        post_token("root", "wrong")
        time_passes(30)
    response = client.post("/admin/login/", {"username": "root", "password": PASSWORD, "next": "/admin/"},
                           REMOTE_ADDR=OTHER_ADDRESS)
    assert response.status_code == 200
    assert SIGNIN_LOCKED_OUT.format(wait="15 minutes") in response.content.decode()
    assert "_auth_user_id" not in client.session
    time_passes(LOCKOUT_SECONDS)
    response = client.post("/admin/login/", {"username": "root", "password": PASSWORD, "next": "/admin/"},
                           REMOTE_ADDR=OTHER_ADDRESS)
    assert response.status_code == 302


def test_admin_login_failures_count_toward_the_lockout(client, db):
    User.objects.create_superuser(username="root", password=PASSWORD)
    for _ in range(5):
        response = client.post("/admin/login/", {"username": "root", "password": "wrong"}, REMOTE_ADDR=ADDRESS)
    assert SIGNIN_SLOWED_DOWN.format(wait="1 second") in response.content.decode()
    assert SignInThrottle.objects.get(scope=SCOPE_USER, key="root").failures == 5


# --- The token endpoint ------------------------------------------------------------------------

def test_token_endpoint_slows_down_with_a_429_and_retry_after(labeler):
    for _ in range(4):
        response = post_token(labeler.username, "wrong")
        assert response.status_code == 400
        assert response.json() == {"error": {"code": "bad_credentials", "message": BAD_CREDENTIALS}}
    response = post_token(labeler.username, "wrong")
    assert response.status_code == 429
    assert response["Retry-After"] == "1"
    assert response.json() == {"error": {"code": "signin_slowed_down",
                                         "message": SIGNIN_SLOWED_DOWN.format(wait="1 second")}}
    assert post_token(labeler.username, PASSWORD).status_code == 429
    time_passes(1)
    assert post_token(labeler.username, PASSWORD).status_code == 200


def test_token_endpoint_locks_out_and_refuses_the_right_password_until_the_window_passes(labeler):
    for _ in range(10):
        response = post_token(labeler.username, "wrong")
        time_passes(30)
    response = post_token(labeler.username, PASSWORD)
    assert response.status_code == 429
    assert response["Retry-After"] == str(LOCKOUT_SECONDS - 30)
    assert response.json() == {"error": {"code": "signin_locked_out",
                                         "message": SIGNIN_LOCKED_OUT.format(wait="15 minutes")}}
    time_passes(LOCKOUT_SECONDS)
    response = post_token(labeler.username, PASSWORD)
    assert response.status_code == 200
    assert "token" in response.json()


def test_twenty_wrong_passwords_on_the_token_endpoint_lock_out_the_user_even_from_new_addresses(labeler):
    # The probe: 20 wrong passwords in a row, then the right one.
    statuses = [post_token(labeler.username, "wrong", address=f"192.0.2.{n}").status_code for n in range(20)]
    assert statuses[:4] == [400] * 4
    assert set(statuses[4:]) == {429}
    assert post_token(labeler.username, PASSWORD, address="192.0.2.200").status_code == 429


def test_token_endpoint_counts_per_address_across_user_names(users):
    for number in range(19):
        assert post_token(f"guess-{number}", "wrong").status_code == 400
    assert post_token("guess-19", "wrong").status_code == 429
    assert post_token(users["engineer"].username, PASSWORD).status_code == 429
    assert post_token(users["engineer"].username, PASSWORD, address=OTHER_ADDRESS).status_code == 200


def test_a_forged_forwarded_header_does_not_escape_the_address_count(labeler):
    for number in range(20):
        APIClient().post("/api/v1/auth/token", {"username": f"guess-{number}", "password": "wrong"}, format="json",
                         REMOTE_ADDR=ADDRESS, HTTP_X_FORWARDED_FOR=f"10.0.0.{number}")
    assert SignInThrottle.objects.get(scope=SCOPE_IP, key=ADDRESS).failures == 20


def test_behind_a_trusted_proxy_the_forwarded_client_is_counted(settings, labeler):
    settings.SIGNIN_TRUSTED_PROXY_COUNT = 1
    APIClient().post("/api/v1/auth/token", {"username": labeler.username, "password": "wrong"}, format="json",
                     REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=ADDRESS)
    assert SignInThrottle.objects.get(scope=SCOPE_IP).key == ADDRESS


def test_the_token_endpoint_documents_its_429(client_as, users):
    schema = client_as(users["engineer"]).get("/api/schema/?format=json").json()
    assert "429" in schema["paths"]["/api/v1/auth/token"]["post"]["responses"]
