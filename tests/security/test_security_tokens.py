"""API tokens: they expire, can be revoked, and stop working when the user's password, role, pool
or active flag changes, whichever way the change was made; the old header format still works."""
from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from labeling.authentication import TOKEN_HEADER_MALFORMED
from labeling.models import ApiToken, Pool, PoolKind, Role, User
from labeling.services.tokens import (
    API_TOKEN_CREDENTIALS_CHANGED,
    API_TOKEN_EXPIRED,
    API_TOKEN_INVALID,
    API_TOKEN_REVOKED,
    API_TOKEN_USER_INACTIVE,
    ApiTokenExpired,
    api_token_authenticate,
    api_token_issue,
    api_tokens_issue_bulk,
)
from tests.security.conftest import PASSWORD

pytestmark = pytest.mark.django_db

TTL_SECONDS = 7 * 24 * 3600


@pytest.fixture(autouse=True)
def token_ttl(settings):
    settings.API_TOKEN_TTL_SECONDS = TTL_SECONDS


@pytest.fixture
def labeler(users):
    return users["labeler"]


@pytest.fixture
def other_pool(db):
    return Pool.objects.create(name="Crowd pool", kind=PoolKind.CROWD)


@pytest.fixture
def superuser(db):
    return User.objects.create_superuser(username="root", password=PASSWORD)


def token_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def me(key: str):
    return token_client(key).get("/api/v1/me")


def refused_with(response, code: str, message: str) -> bool:
    return response.status_code == 401 and response.json() == {"error": {"code": code, "message": message}}


def sign_in(username: str) -> str:
    response = APIClient().post("/api/v1/auth/token", {"username": username, "password": PASSWORD}, format="json")
    assert response.status_code == 200
    return response.json()["token"]


def admin_user_form(user: User, **changes) -> dict:
    """The admin's user change form as a browser posts it, with ``changes`` applied (None drops a field)."""
    data = {
        "username": user.username, "first_name": "", "last_name": "", "email": "",
        "is_active": "on", "role": user.role, "pool": user.pool_id or "",
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"), "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
        "last_login_0": "", "last_login_1": "",
    }
    data.update(changes)
    return {name: value for name, value in data.items() if value is not None}


# --- Issue and use -----------------------------------------------------------------------------

def test_a_token_from_the_endpoint_works_in_the_old_header_format(labeler):
    before = timezone.now()
    response = APIClient().post("/api/v1/auth/token", {"username": labeler.username, "password": PASSWORD},
                                format="json")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token", "expires_at"}
    expires_at = ApiToken.objects.get(user=labeler).expires_at
    assert before + timedelta(seconds=TTL_SECONDS) <= expires_at <= timezone.now() + timedelta(seconds=TTL_SECONDS)
    answer = me(body["token"])
    assert answer.status_code == 200
    assert answer.json()["username"] == labeler.username


def test_only_the_sha256_of_the_key_is_stored(labeler):
    key = sign_in(labeler.username)
    token = ApiToken.objects.get(user=labeler)
    assert token.key_sha256 == hashlib.sha256(key.encode()).hexdigest()
    assert not ApiToken.objects.filter(key_sha256=key).exists()


def test_each_sign_in_issues_its_own_token(labeler):
    first, second = sign_in(labeler.username), sign_in(labeler.username)
    assert first != second
    assert me(first).status_code == me(second).status_code == 200


def test_the_lifetime_comes_from_the_setting(settings, labeler):
    settings.API_TOKEN_TTL_SECONDS = 60
    now = timezone.now()
    _, token = api_token_issue(user=labeler, now=now)
    assert token.expires_at == now + timedelta(seconds=60)


def test_checking_a_token_is_one_query(labeler, django_assert_num_queries):
    key, _ = api_token_issue(user=labeler)
    with django_assert_num_queries(1):
        token = api_token_authenticate(key=key)
    with django_assert_num_queries(0):
        assert token.user.username == labeler.username


def test_an_unknown_token_is_refused(labeler):
    assert refused_with(me("not-a-token"), "token_invalid", API_TOKEN_INVALID)


def test_a_token_header_with_spaces_in_the_key_is_refused(labeler):
    key = sign_in(labeler.username)
    response = APIClient().get("/api/v1/me", HTTP_AUTHORIZATION=f"Token {key} extra")
    assert refused_with(response, "token_header_malformed", TOKEN_HEADER_MALFORMED)


def test_a_refused_token_gets_a_401_that_names_the_token_scheme(labeler):
    assert me("not-a-token")["WWW-Authenticate"] == "Token"


def test_bulk_issued_tokens_authenticate(users):
    keys = api_tokens_issue_bulk(users=[users["labeler"], users["expert"]])
    assert [me(key).json()["username"] for key in keys] == [users["labeler"].username, users["expert"].username]


# --- Expiry ------------------------------------------------------------------------------------

def test_a_token_stops_working_when_it_expires(labeler):
    issued = timezone.now()
    key, _ = api_token_issue(user=labeler, now=issued)
    assert api_token_authenticate(key=key, now=issued + timedelta(seconds=TTL_SECONDS - 1)).user == labeler
    with pytest.raises(ApiTokenExpired):
        api_token_authenticate(key=key, now=issued + timedelta(seconds=TTL_SECONDS))


def test_an_expired_token_gets_a_401_that_says_so(labeler):
    key, _ = api_token_issue(user=labeler, now=timezone.now() - timedelta(seconds=TTL_SECONDS + 1))
    assert refused_with(me(key), "token_expired", API_TOKEN_EXPIRED)


def test_long_expired_tokens_of_the_user_are_cleared_at_the_next_sign_in(labeler):
    api_token_issue(user=labeler, now=timezone.now() - timedelta(seconds=3 * TTL_SECONDS))
    recent_key, _ = api_token_issue(user=labeler, now=timezone.now() - timedelta(seconds=TTL_SECONDS + 1))
    sign_in(labeler.username)
    assert ApiToken.objects.filter(user=labeler).count() == 2
    assert refused_with(me(recent_key), "token_expired", API_TOKEN_EXPIRED)


# --- Revocation --------------------------------------------------------------------------------

def test_delete_revokes_the_token_it_carries_and_no_other(labeler):
    signed_out, kept = sign_in(labeler.username), sign_in(labeler.username)
    response = token_client(signed_out).delete("/api/v1/auth/token")
    assert response.status_code == 204
    assert refused_with(me(signed_out), "token_revoked", API_TOKEN_REVOKED)
    assert me(kept).status_code == 200


def test_delete_without_a_token_is_refused(client_as, labeler):
    assert client_as(None).delete("/api/v1/auth/token").status_code == 401
    # A session is not a token: there is nothing for it to sign out here.
    assert client_as(labeler).delete("/api/v1/auth/token").status_code == 401


def test_revoke_all_signs_out_every_token_of_mine_and_no_one_else(users):
    mine = [sign_in(users["labeler"].username) for _ in range(3)]
    theirs = sign_in(users["expert"].username)
    response = token_client(mine[0]).post("/api/v1/auth/token/revoke-all")
    assert response.status_code == 200
    assert response.json() == {"revoked": 3}
    assert all(refused_with(me(key), "token_revoked", API_TOKEN_REVOKED) for key in mine)
    assert me(theirs).status_code == 200


def test_revoke_all_works_from_a_signed_in_session(client_as, labeler):
    key = sign_in(labeler.username)
    assert client_as(labeler).post("/api/v1/auth/token/revoke-all").json() == {"revoked": 1}
    assert refused_with(me(key), "token_revoked", API_TOKEN_REVOKED)


# --- Credentials changes -----------------------------------------------------------------------

def test_a_role_change_revokes_the_users_tokens(labeler):
    key = sign_in(labeler.username)
    labeler.role = Role.EXPERT
    labeler.save()
    assert refused_with(me(key), "token_credentials_changed", API_TOKEN_CREDENTIALS_CHANGED)


def test_a_pool_change_revokes_the_users_tokens(labeler, other_pool):
    key = sign_in(labeler.username)
    labeler.pool = other_pool
    labeler.save()
    assert refused_with(me(key), "token_credentials_changed", API_TOKEN_CREDENTIALS_CHANGED)


def test_a_password_change_revokes_the_users_tokens(labeler):
    key = sign_in(labeler.username)
    labeler.set_password("a brand new passphrase")
    labeler.save()
    assert refused_with(me(key), "token_credentials_changed", API_TOKEN_CREDENTIALS_CHANGED)


def test_setting_the_same_password_again_still_revokes(labeler):
    key = sign_in(labeler.username)
    labeler.set_password(PASSWORD)  # a new salt, so a new hash
    labeler.save()
    assert refused_with(me(key), "token_credentials_changed", API_TOKEN_CREDENTIALS_CHANGED)


def test_a_deactivated_users_tokens_stop_working_with_their_own_message(labeler):
    key = sign_in(labeler.username)
    User.objects.filter(pk=labeler.pk).update(is_active=False)
    assert refused_with(me(key), "user_inactive", API_TOKEN_USER_INACTIVE)


def test_a_change_undone_after_the_token_was_refused_does_not_revive_it(labeler):
    key = sign_in(labeler.username)
    User.objects.filter(pk=labeler.pk).update(role=Role.EXPERT)
    assert me(key).status_code == 401
    User.objects.filter(pk=labeler.pk).update(role=Role.LABELER)
    assert refused_with(me(key), "token_revoked", API_TOKEN_REVOKED)


def test_an_unrelated_change_keeps_the_tokens(labeler):
    key = sign_in(labeler.username)
    labeler.email = "lena@example.com"
    labeler.first_name = "Lena"
    labeler.save()
    assert me(key).status_code == 200


def test_a_role_change_in_the_admin_revokes_the_users_tokens(client, superuser, labeler):
    key = sign_in(labeler.username)
    client.force_login(superuser)
    response = client.post(f"/admin/labeling/user/{labeler.pk}/change/", admin_user_form(labeler, role=Role.EXPERT))
    assert response.status_code == 302
    assert User.objects.get(pk=labeler.pk).role == Role.EXPERT
    assert refused_with(me(key), "token_credentials_changed", API_TOKEN_CREDENTIALS_CHANGED)


def test_a_pool_change_in_the_admin_revokes_the_users_tokens(client, superuser, labeler, other_pool):
    key = sign_in(labeler.username)
    client.force_login(superuser)
    response = client.post(f"/admin/labeling/user/{labeler.pk}/change/", admin_user_form(labeler, pool=other_pool.pk))
    assert response.status_code == 302
    assert refused_with(me(key), "token_credentials_changed", API_TOKEN_CREDENTIALS_CHANGED)


def test_deactivating_in_the_admin_stops_the_users_tokens(client, superuser, labeler):
    key = sign_in(labeler.username)
    client.force_login(superuser)
    response = client.post(f"/admin/labeling/user/{labeler.pk}/change/", admin_user_form(labeler, is_active=None))
    assert response.status_code == 302
    assert refused_with(me(key), "user_inactive", API_TOKEN_USER_INACTIVE)


def test_a_password_change_in_the_admin_revokes_the_users_tokens(client, superuser, labeler):
    key = sign_in(labeler.username)
    client.force_login(superuser)
    response = client.post(f"/admin/labeling/user/{labeler.pk}/password/",
                           {"password1": "a brand new passphrase", "password2": "a brand new passphrase",
                            "usable_password": "true"})
    assert response.status_code == 302
    assert refused_with(me(key), "token_credentials_changed", API_TOKEN_CREDENTIALS_CHANGED)


def test_an_unrelated_admin_edit_keeps_the_tokens(client, superuser, labeler):
    key = sign_in(labeler.username)
    client.force_login(superuser)
    response = client.post(f"/admin/labeling/user/{labeler.pk}/change/", admin_user_form(labeler, first_name="Lena"))
    assert response.status_code == 302
    assert me(key).status_code == 200


# --- The token admin ---------------------------------------------------------------------------

def test_the_admin_lists_tokens_with_their_state(client, superuser, users):
    api_token_issue(user=users["labeler"])
    api_token_issue(user=users["expert"], now=timezone.now() - timedelta(seconds=TTL_SECONDS + 1))
    client.force_login(superuser)
    response = client.get("/admin/labeling/apitoken/")
    assert response.status_code == 200
    page = response.content.decode()
    assert users["labeler"].username in page and users["expert"].username in page
    assert ">live<" in page and ">expired<" in page


def test_the_admin_revoke_action_revokes_the_selected_tokens(client, superuser, users):
    revoked_key, revoked = api_token_issue(user=users["labeler"])
    kept_key, _ = api_token_issue(user=users["labeler"])
    client.force_login(superuser)
    response = client.post("/admin/labeling/apitoken/", {"action": "revoke", "_selected_action": [revoked.pk]})
    assert response.status_code == 302
    assert refused_with(me(revoked_key), "token_revoked", API_TOKEN_REVOKED)
    assert me(kept_key).status_code == 200


def test_tokens_cannot_be_made_in_the_admin(client, superuser):
    client.force_login(superuser)
    assert client.get("/admin/labeling/apitoken/add/").status_code == 403
