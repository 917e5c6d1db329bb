"""Every /api/ error is JSON in the one error format, whatever raised it: a URL that matches no
route, a body over the size limit, a refused Host header, a wrong method, a CSRF refusal, and an
unexpected exception (500). Pages outside /api/ keep the site's HTML error pages.

The views that fail on purpose live in this module's own urlconf, in front of the real one: the
handlers (handler400/403/404/500) are the ones config/urls.py declares."""
from __future__ import annotations

import json
import logging

import pytest
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.http import Http404, HttpResponse
from django.test import Client
from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.test import APIClient
from rest_framework.views import APIView

import config.urls
from labeling.api_errors import (CSRF_FAILED, NOT_FOUND, PERMISSION_DENIED, REQUEST_REFUSED, REQUEST_TOO_LARGE,
                                 SERVER_ERROR)
from labeling.models import ApiToken
from tests.security.conftest import PASSWORD

EXPLOSION = "the database driver said something private"
SUSPICIOUS_DETAIL = "a path outside MEDIA_ROOT: /etc/shadow"


class ExplodingApi(APIView):
    permission_classes = [AllowAny]

    def get(self, request):
        raise RuntimeError(EXPLOSION)


class SuspiciousApi(APIView):
    permission_classes = [AllowAny]

    def get(self, request):
        raise SuspiciousOperation(SUSPICIOUS_DETAIL)


def exploding_page(request):
    raise RuntimeError(EXPLOSION)


def plain_view_refusing(request):
    raise PermissionDenied("Only the night shift may read this.")


def plain_view_missing(request):
    raise Http404("no such report")


def plain_view_posted(request):
    return HttpResponse("stored")


# The real handlers and routes, with a few views that fail on purpose in front of them.
handler400, handler403 = config.urls.handler400, config.urls.handler403
handler404, handler500 = config.urls.handler404, config.urls.handler500
urlpatterns = [
    path("api/v1/test/explode", ExplodingApi.as_view()),
    path("api/v1/test/suspicious", SuspiciousApi.as_view()),
    path("api/v1/test/plain-refusal", plain_view_refusing),
    path("api/v1/test/plain-missing", plain_view_missing),
    path("api/v1/test/plain-post", plain_view_posted),
    path("test/explode/", exploding_page),
    *config.urls.urlpatterns,
]

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


def error_of(response) -> dict:
    assert response["Content-Type"] == "application/json", response.content[:200]
    body = json.loads(response.content)
    assert set(body) == {"error"}
    assert {"code", "message"} <= set(body["error"]) <= {"code", "message", "fields"}
    return body["error"]


@pytest.fixture
def labeler_client(users, client_as):
    return client_as(users["labeler"])


@pytest.mark.parametrize("url", ["/api/v1/eval-runs/-1", "/api/v1/nope", "/api/v1/me/", "/api/", "/api/v2/queues"])
def test_an_api_url_that_matches_no_route_is_a_json_404(labeler_client, url):
    response = labeler_client.get(url)
    assert response.status_code == 404
    assert error_of(response) == {"code": "not_found", "message": NOT_FOUND}


def test_an_anonymous_request_to_an_unrouted_api_url_is_a_json_404_too(client_as):
    response = client_as(None).post("/api/v1/eval-runs/-1", {"name": "x"}, format="json")
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


def test_a_page_url_that_matches_no_route_keeps_the_html_404_page(labeler_client):
    response = labeler_client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    assert "Nothing here" in response.content.decode()


def test_a_wrong_method_is_a_json_405(labeler_client):
    response = labeler_client.post("/api/v1/me", {}, format="json")
    assert response.status_code == 405
    assert error_of(response) == {"code": "method_not_allowed", "message": 'Method "POST" not allowed.'}


@pytest.mark.parametrize("content_type", ["application/json", "application/x-www-form-urlencoded"])
def test_a_body_over_the_size_limit_is_a_json_413_that_issues_no_token(client_as, settings, users, caplog,
                                                                       content_type):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    padding = "x" * 2048
    body = (json.dumps({"username": "labeler-user", "password": PASSWORD, "padding": padding})
            if content_type == "application/json"
            else f"username=labeler-user&password={PASSWORD}&padding={padding}")

    with caplog.at_level(logging.ERROR, logger="django.security.RequestDataTooBig"):
        response = client_as(None).post("/api/v1/auth/token", body, content_type=content_type)

    assert response.status_code == 413
    assert error_of(response) == {"code": "request_too_large", "message": REQUEST_TOO_LARGE.format(limit=1024)}
    assert not ApiToken.objects.exists()
    assert [record.name for record in caplog.records] == ["django.security.RequestDataTooBig"]


def test_a_form_with_too_many_fields_is_a_json_400(client_as, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 5
    body = "&".join(f"field{n}=1" for n in range(10))
    response = client_as(None).post("/api/v1/auth/token", body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert error_of(response) == {"code": "bad_request", "message": REQUEST_REFUSED}
    assert not ApiToken.objects.exists()


def test_malformed_json_is_a_json_400_parse_error(client_as):
    response = client_as(None).post("/api/v1/auth/token", '{"username": "a", ', content_type="application/json")
    assert response.status_code == 400
    assert error_of(response)["code"] == "parse_error"


def test_a_suspicious_operation_in_an_api_view_is_a_json_400_that_keeps_the_detail_in_the_log(client_as, caplog):
    with caplog.at_level(logging.ERROR, logger="django.security"):
        response = client_as(None).get("/api/v1/test/suspicious")
    assert response.status_code == 400
    assert error_of(response) == {"code": "bad_request", "message": REQUEST_REFUSED}
    assert SUSPICIOUS_DETAIL not in response.content.decode()
    assert [(r.name, r.getMessage()) for r in caplog.records] == [
        ("django.security.SuspiciousOperation", SUSPICIOUS_DETAIL)]


def test_a_host_outside_allowed_hosts_is_a_json_400_under_api_and_the_html_400_page_elsewhere(client_as):
    api = client_as(None).get("/api/v1/me", HTTP_HOST="attacker.example")
    assert api.status_code == 400
    assert error_of(api) == {"code": "bad_request", "message": REQUEST_REFUSED}
    assert "attacker.example" not in api.content.decode()

    page = client_as(None).get("/login/", HTTP_HOST="attacker.example")
    assert page.status_code == 400
    assert page["Content-Type"].startswith("text/html")
    assert "The request could not be handled" in page.content.decode()


def test_an_unexpected_exception_in_an_api_view_is_a_logged_json_500_that_hides_the_exception(client_as, caplog):
    client = client_as(None)
    client.raise_request_exception = False
    with caplog.at_level(logging.ERROR, logger="django.request"):
        response = client.get("/api/v1/test/explode")

    assert response.status_code == 500
    assert error_of(response) == {"code": "server_error", "message": SERVER_ERROR}
    assert EXPLOSION not in response.content.decode()
    logged = [record for record in caplog.records if record.name == "django.request"]
    assert len(logged) == 1 and logged[0].levelno == logging.ERROR
    assert logged[0].exc_info[0] is RuntimeError and str(logged[0].exc_info[1]) == EXPLOSION
    assert response["Content-Security-Policy"]


def test_an_unexpected_exception_on_a_page_is_the_html_500_page(client_as, caplog):
    client = client_as(None)
    client.raise_request_exception = False
    with caplog.at_level(logging.ERROR, logger="django.request"):
        response = client.get("/test/explode/")
    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert "Something went wrong on our side" in page
    assert EXPLOSION not in page
    assert "<script" not in page


def test_a_plain_django_view_under_api_answers_its_403_and_404_in_json(client_as):
    refused = client_as(None).get("/api/v1/test/plain-refusal")
    assert refused.status_code == 403
    assert error_of(refused) == {"code": "permission_denied", "message": "Only the night shift may read this."}

    missing = client_as(None).get("/api/v1/test/plain-missing")
    assert missing.status_code == 404
    assert error_of(missing) == {"code": "not_found", "message": NOT_FOUND}


def test_a_permission_denied_without_a_message_gets_the_default_json_message(rf):
    from config.errors import permission_denied

    response = permission_denied(rf.get("/api/v1/anything"), PermissionDenied())
    assert response.status_code == 403
    assert error_of(response) == {"code": "permission_denied", "message": PERMISSION_DENIED}


def test_a_csrf_refusal_is_json_under_api_and_the_site_page_elsewhere(users):
    client = Client(enforce_csrf_checks=True)
    api = client.post("/api/v1/test/plain-post", {"x": "1"})
    assert api.status_code == 403
    assert error_of(api) == {"code": "csrf_failed",
                             "message": CSRF_FAILED.format(reason="CSRF cookie not set.")}

    page = client.post("/login/", {"username": "labeler-user", "password": PASSWORD})
    assert page.status_code == 403
    assert page["Content-Type"].startswith("text/html")
    html = page.content.decode()
    assert "security check failed" in html and "CSRF cookie not set." in html
    assert "<style" not in html and "_auth_user_id" not in client.session


def test_a_session_post_to_the_api_without_a_csrf_token_is_refused_in_json(users):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(users["engineer"])
    response = client.post("/api/v1/eval-runs", {"name": "no token"}, format="json")
    assert response.status_code == 403
    assert error_of(response)["code"] == "permission_denied"
    assert "CSRF" in error_of(response)["message"]
