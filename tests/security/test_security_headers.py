"""Security headers and production HTTPS settings, with DEBUG off.

The production values are read from .env.example's "Production HTTPS" section, so the
documentation and what is tested cannot drift apart: ``manage.py check --deploy`` must be clean
with them, and the headers and cookies they promise must be on the responses. The defaults must
keep serving the embedded set-up on plain http."""
from __future__ import annotations

import os
import re
import runpy
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from config.middleware import CSP_HEADER, CSP_REPORT_ONLY_HEADER
from tests.security.conftest import PASSWORD

REPO = Path(__file__).resolve().parents[2]
ENV_EXAMPLE = REPO / ".env.example"
SECTION_START = "# -- Production HTTPS and security headers"
SECTION_END = "# -- end of production HTTPS"
DOCUMENTED_SETTING = re.compile(r"^# ([A-Z][A-Z0-9_]*)=(.*)$")
# Every setting of the security block that the environment can change.
SECURITY_SETTINGS = (
    "SECURE_SSL_REDIRECT", "SECURE_PROXY_SSL_HEADER", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY",
    "SESSION_COOKIE_SAMESITE", "CSRF_COOKIE_SAMESITE", "CSRF_TRUSTED_ORIGINS", "CSP_POLICY", "CSP_REPORT_ONLY",
    "SECURE_REFERRER_POLICY", "SECURE_CROSS_ORIGIN_OPENER_POLICY", "SECURE_CONTENT_TYPE_NOSNIFF",
)
# The deploy-check warnings the issue found on the defaults: HSTS, SSL redirect, the two cookies.
DEFAULT_DEPLOY_WARNINGS = ("security.W004", "security.W008", "security.W012", "security.W016")


def production_environment() -> dict[str, str]:
    """The ``# NAME=value`` lines of .env.example's production HTTPS section."""
    lines = ENV_EXAMPLE.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(SECTION_START))
    end = next(i for i, line in enumerate(lines) if line.startswith(SECTION_END))
    assert start < end
    return {match[1]: match[2] for line in lines[start + 1:end] if (match := DOCUMENTED_SETTING.match(line))}


def clean_environment(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """This process's environment without any security setting, state in ``tmp_path``, DEBUG off."""
    env = {name: value for name, value in os.environ.items() if name not in SECURITY_SETTINGS}
    env.update(DJANGO_SETTINGS_MODULE="config.settings", DEBUG="0", VAR_DIR=str(tmp_path / "var"),
               # What a production key looks like: check --deploy (W009) refuses a short or guessable one.
               SECRET_KEY=secrets.token_urlsafe(50))
    env.update(overrides)
    return env


def deploy_check(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def settings_under(monkeypatch, settings, env: dict[str, str]) -> dict:
    """Evaluate config/settings.py under ``env`` and apply its security settings to this test."""
    for name in SECURITY_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    evaluated = runpy.run_path(str(REPO / "config" / "settings.py"))
    for name in (*SECURITY_SETTINGS, "X_FRAME_OPTIONS"):
        setattr(settings, name, evaluated[name])
    return evaluated


@pytest.fixture
def production(monkeypatch, settings, tmp_path):
    return settings_under(monkeypatch, settings, {**production_environment(), "VAR_DIR": str(tmp_path / "var")})


@pytest.fixture
def embedded_defaults(monkeypatch, settings, tmp_path):
    return settings_under(monkeypatch, settings, {"VAR_DIR": str(tmp_path / "var")})


def test_the_production_section_of_env_example_sets_every_https_setting():
    assert set(production_environment()) >= {
        "SECURE_SSL_REDIRECT", "SECURE_PROXY_SSL_HEADER", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        "SECURE_HSTS_PRELOAD", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE"}


def test_deploy_check_is_clean_with_the_production_values_of_env_example(tmp_path):
    result = deploy_check(clean_environment(tmp_path, **production_environment()))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_deploy_check_warns_about_https_on_the_embedded_defaults(tmp_path):
    result = deploy_check(clean_environment(tmp_path))
    assert result.returncode != 0
    assert set(re.findall(r"security\.W\d{3}", result.stderr + result.stdout)) == set(DEFAULT_DEPLOY_WARNINGS)


def test_production_settings_parse_from_the_environment(production):
    assert production["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https")
    assert production["SECURE_HSTS_SECONDS"] == 31536000
    assert production["SECURE_SSL_REDIRECT"] is True
    assert production["DEBUG"] is False


def test_a_malformed_proxy_ssl_header_stops_the_settings_from_loading(monkeypatch, settings, tmp_path):
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="HEADER,value"):
        settings_under(monkeypatch, settings, {"SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO",
                                               "VAR_DIR": str(tmp_path / "var")})


@pytest.mark.django_db
def test_in_production_plain_http_is_redirected_to_https(client, production):
    response = client.get("/login/")
    assert response.status_code == 301
    assert response["Location"] == "https://testserver/login/"


@pytest.mark.django_db
def test_in_production_the_proxy_header_marks_a_request_secure_and_it_gets_hsts(client, production):
    response = client.get("/login/", HTTP_X_FORWARDED_PROTO="https")
    assert response.status_code == 200
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"


@pytest.mark.django_db
def test_in_production_signing_in_sets_secure_http_only_cookies(client, production, users):
    response = client.post("/login/", {"username": "labeler-user", "password": PASSWORD}, secure=True)
    assert response.status_code == 302
    session, csrf = response.cookies["sessionid"], response.cookies["csrftoken"]
    assert session["secure"] and session["httponly"] and session["samesite"] == "Lax"
    assert csrf["secure"] and csrf["samesite"] == "Lax"
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")


@pytest.mark.django_db
def test_the_embedded_defaults_serve_plain_http_without_redirect_hsts_or_secure_cookies(
        client, embedded_defaults, users):
    page = client.get("/login/")
    assert page.status_code == 200
    assert "Strict-Transport-Security" not in page
    response = client.post("/login/", {"username": "labeler-user", "password": PASSWORD})
    assert response.status_code == 302
    session = response.cookies["sessionid"]
    assert not session["secure"] and session["httponly"]
    assert not response.cookies["csrftoken"]["secure"]


@pytest.mark.django_db
@pytest.mark.parametrize("role, url, status", [
    (None, "/login/", 200),
    (None, "/api/docs/", 200),
    (None, "/api/docs/?script=", 200),
    (None, "/api/schema/", 200),
    (None, "/api/v1/me", 401),
    (None, "/api/v1/eval-runs/-1", 404),
    (None, "/admin/login/", 200),
    ("labeler", "/queues/", 200),
    ("labeler", "/api/v1/queues", 200),
    ("labeler", "/runs/", 403),
    ("engineer", "/runs/", 200),
    ("engineer", "/api/v1/eval-runs", 200),
])
def test_pages_and_api_responses_carry_the_csp_and_the_other_security_headers(
        client_as, users, production, role, url, status):
    client = client_as(users[role] if role else None)
    response = client.get(url, secure=True)
    assert response.status_code == status
    assert response[CSP_HEADER] == django_settings.CSP_POLICY
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"


def test_the_default_policy_allows_no_inline_script_no_inline_style_element_and_no_framing(embedded_defaults):
    directives = dict(part.strip().split(" ", 1) for part in django_settings.CSP_POLICY.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["default-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe-eval" not in django_settings.CSP_POLICY


@pytest.mark.django_db
def test_report_only_mode_sends_the_policy_under_the_report_only_header(client, settings):
    settings.CSP_REPORT_ONLY = True
    response = client.get("/login/")
    assert response[CSP_REPORT_ONLY_HEADER] == settings.CSP_POLICY
    assert CSP_HEADER not in response


@pytest.mark.django_db
def test_an_empty_policy_sends_no_csp_header(client, settings):
    settings.CSP_POLICY = ""
    response = client.get("/login/")
    assert CSP_HEADER not in response and CSP_REPORT_ONLY_HEADER not in response


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\ssrc=)[^>]*>", re.IGNORECASE)
INLINE_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE)
JAVASCRIPT_URL = re.compile(r"""(?:href|src|action)\s*=\s*["']?\s*javascript:""", re.IGNORECASE)


@pytest.mark.django_db
@pytest.mark.parametrize("role, url", [
    (None, "/login/"),
    (None, "/api/docs/"),
    (None, "/no-such-page/"),
    ("labeler", "/queues/"),
    ("labeler", "/runs/"),
    ("expert", "/overview/"),
    ("engineer", "/runs/"),
    ("engineer", "/runs/new/"),
    ("engineer", "/models/"),
    ("superuser", "/admin/"),
    ("superuser", "/admin/labeling/user/"),
    ("superuser", "/admin/labeling/user/add/"),
    ("superuser", "/admin/labeling/pool/"),
])
def test_no_page_has_an_inline_script_style_element_or_event_handler(client_as, users, role, url):
    if role == "superuser":
        user = users["admin"]
        user.is_superuser = True
        user.save(update_fields=["is_superuser"])
    else:
        user = users[role] if role else None
    response = client_as(user).get(url)
    assert response.status_code in (200, 403, 404)
    html = response.content.decode()
    assert "<html" in html.lower()
    assert INLINE_SCRIPT.findall(html) == []
    assert "<style" not in html.lower()
    assert INLINE_HANDLER.findall(html) == []
    assert JAVASCRIPT_URL.findall(html) == []


@pytest.mark.django_db
def test_with_debug_on_only_the_technical_error_pages_go_without_the_policy(client, settings):
    settings.DEBUG = True
    technical_404 = client.get("/no-such-page/")
    assert technical_404.status_code == 404 and "<style" in technical_404.content.decode()
    assert CSP_HEADER not in technical_404
    assert client.get("/login/")[CSP_HEADER] == settings.CSP_POLICY
    assert client.get("/api/v1/me")[CSP_HEADER] == settings.CSP_POLICY
