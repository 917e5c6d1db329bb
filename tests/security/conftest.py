"""Fixtures of the security tests: one user per role (made with the real services), API clients
signed in as each, and media storage in a temporary folder."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from labeling.models import Pool, PoolKind, Role
from labeling.services.users import user_create

PASSWORD = "correct horse battery staple"
ROLES = (Role.LABELER, Role.EXPERT, Role.ENGINEER, Role.ADMIN)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # PBKDF2's deliberate slowness would dominate tests that create many users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_ROOT.mkdir()
    return settings.MEDIA_ROOT


@pytest.fixture
def pool(db):
    return Pool.objects.create(name="In-house team", kind=PoolKind.IN_HOUSE)


@pytest.fixture
def users(pool):
    """One user per role, keyed by role; the labeler is in ``pool``."""
    return {role: user_create(username=f"{role}-user", password=PASSWORD, role=role,
                              pool=pool if role == Role.LABELER else None) for role in ROLES}


@pytest.fixture
def client_as():
    """``client_as(user)``: an APIClient signed in with a session (None: anonymous)."""
    def make(user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_login(user)
        return client

    return make
