"""Production settings from .env.example pass `check --deploy`; every response carries the CSP;
an /api/ URL that matches nothing answers in the JSON error format."""
from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import json

import pytest

ROOT = Path(__file__).resolve().parents[2]
START = "# -- Production HTTPS and security headers"
END = "# -- end of production HTTPS"


def production_values() -> dict[str, str]:
    """The commented-out production values between the two markers of .env.example."""
    text = (ROOT / ".env.example").read_text()
    block = text[text.index(START):text.index(END)]
    return dict(re.findall(r"^# ([A-Z_]+)=(\S+)$", block, flags=re.MULTILINE))


def test_env_example_documents_the_production_https_values():
    values = production_values()
    for name in ("SECURE_SSL_REDIRECT", "SECURE_PROXY_SSL_HEADER", "SECURE_HSTS_SECONDS",
                 "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE"):
        assert name in values, name


def test_check_deploy_is_clean_with_the_documented_production_values(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "DJANGO_SETTINGS_MODULE")}
    env.update(production_values())
    env.update(DEBUG="0", SECRET_KEY=secrets.token_urlsafe(50), VAR_DIR=str(tmp_path),
               DJANGO_SETTINGS_MODULE="config.settings")
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/login/", "/api/v1/me", "/api/schema/"])
def test_every_response_carries_the_content_security_policy(client, url):
    policy = client.get(url)["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy.split("style-src-attr")[0]


@pytest.mark.django_db
def test_hsts_and_secure_cookies_follow_the_settings_on_a_secure_request(client, settings):
    settings.SECURE_HSTS_SECONDS = 3600
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    response = client.get("/login/", HTTP_X_FORWARDED_PROTO="https")
    assert response["Strict-Transport-Security"].startswith("max-age=3600")


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/api/v1/eval-runs/-1", "/api/v1/no-such-endpoint"])
def test_an_api_url_that_matches_nothing_is_a_json_404(client, url):
    response = client.get(url)
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["error"]["code"] == "not_found"


def test_a_server_error_under_api_is_json_in_the_error_format(rf):
    from config.errors import server_error

    response = server_error(rf.get("/api/v1/me"))
    assert response.status_code == 500
    assert response["Content-Type"].startswith("application/json")
    assert json.loads(response.content)["error"]["code"] == "server_error"


@pytest.mark.django_db
def test_an_oversized_api_body_is_a_json_error(client, settings, django_user_model):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    from labeling.models import Role
    from labeling.services.users import user_create

    client.force_login(user_create(username="big-body", password="pw-123456", role=Role.ENGINEER))
    response = client.post("/api/v1/eval-runs", data='{"name": "' + "x" * 5000 + '"}', content_type="application/json")
    assert 400 <= response.status_code < 500
    assert response["Content-Type"].startswith("application/json")
    assert "error" in response.json()
