"""The permission matrix: every URL pattern of the URL configuration, every method its view handles,
asked anonymously and as each role, against the one declared table in permission_table.py.

The patterns come from walking ``django.urls.get_resolver()``, so a new endpoint or page without a
row fails here with the row to add; the Django admin is one row (``admin:*``); static files, served
by middleware rather than a pattern, are a row of their own.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, path, reverse
from django.urls.resolvers import RegexPattern

from api_world import api_world_build
from permission_table import (ADMIN_GROUP, ADMIN_LOGIN, ELSEWHERE, IDENTITIES, LOGIN, PERMISSION_TABLE, STATIC,
                              everyone)

MISSING_ROW = ("URL pattern '{key}' (route '{route}') answers {method} but has no row in "
               "tests/security/permission_table.py: add ('{key}', '{method}'): row(anonymous=..., labeler=..., "
               "expert=..., engineer=..., admin=...)")
STALE_ROW = "permission_table.py has a row {row} for '{key}', which is no URL pattern any more: remove it."
# Methods a client may send that the table need not list: HEAD and OPTIONS mirror GET.
IMPLICIT_METHODS = {"head", "options", "trace"}
STATIC_URL_ASKED = "/static/frontend/app.css"
ADMIN_URL_ASKED = "/admin/"
_ROUTE_PARAMETER = re.compile(r"<(?:\w+:)?(\w+)>")


@dataclass(frozen=True)
class Endpoint:
    key: str  # the URL name with its namespace ("frontend:home"), ADMIN_GROUP, or the route when unnamed
    route: str
    methods: frozenset[str]  # GET, and every other method the view has a handler for


def view_methods(callback) -> frozenset[str]:
    """GET and the methods a class-based view (Django's or DRF's) handles. A function view is
    only known to answer GET; the table may list more for it (a form page's POST)."""
    view_class = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
    methods = {"GET"}
    if view_class is not None:
        methods |= {name.upper() for name in view_class.http_method_names
                    if name not in IMPLICIT_METHODS and hasattr(view_class, name)}
        if "get" not in view_class.http_method_names:
            methods.add("GET")  # still asked: the table says what a GET gets (405)
    return frozenset(methods)


def url_endpoints(resolver: URLResolver) -> list[Endpoint]:
    """Every pattern under ``resolver``, the admin's folded into one ADMIN_GROUP endpoint."""
    endpoints: dict[str, Endpoint] = {}

    def walk(node: URLResolver, prefix: str, namespaces: tuple[str, ...]) -> None:
        for pattern in node.url_patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                inner = namespaces + ((pattern.namespace,) if pattern.namespace else ())
                if inner[:1] == ("admin",):
                    endpoints[ADMIN_GROUP] = Endpoint(ADMIN_GROUP, prefix + str(pattern.pattern), frozenset({"GET"}))
                    continue
                walk(pattern, route, inner)
            elif isinstance(pattern, URLPattern):
                key = ":".join(namespaces + (pattern.name,)) if pattern.name else route
                endpoints[key] = Endpoint(key, route, view_methods(pattern.callback))

    walk(resolver, "", ())
    return list(endpoints.values())


def permission_table_gaps(*, resolver: URLResolver, table: dict) -> list[str]:
    """What stops ``table`` from covering ``resolver``: patterns or methods without a row, and rows
    for patterns that are gone."""
    endpoints = {endpoint.key: endpoint for endpoint in url_endpoints(resolver)}
    covered = {(key[0], key[1]) for key in table}
    gaps = [MISSING_ROW.format(key=endpoint.key, route=endpoint.route, method=method)
            for endpoint in endpoints.values() for method in sorted(endpoint.methods)
            if (endpoint.key, method) not in covered]
    gaps += [STALE_ROW.format(row=key, key=key[0]) for key in table if key[0] not in endpoints and key[0] != STATIC]
    return gaps


# -- asking -------------------------------------------------------------------------------------

def answer_of(response) -> int | str:
    if response.status_code != 302:
        return response.status_code
    location = response["Location"]
    if location.startswith("/admin/login/"):
        return ADMIN_LOGIN
    if location.startswith("/login/"):
        return LOGIN
    return ELSEWHERE


class Asker:
    """Sends one request as one identity: a fresh client (and for the API a fresh token) each."""

    def __init__(self, *, users: dict):
        self.users = users

    def ask(self, *, identity: str, method: str, url: str):
        from labeling.services.tokens import api_token_issue

        user = self.users.get(identity)
        client = Client(raise_request_exception=False)  # a 500 is a mismatch to list, not a crash
        headers = {}
        if url.startswith("/api/"):
            if user is not None:
                key, _ = api_token_issue(user=user)
                headers["HTTP_AUTHORIZATION"] = f"Token {key}"
            body, content_type = ("{}", "application/json")
        else:
            if user is not None:
                client.force_login(user)
            body, content_type = ("", "application/x-www-form-urlencoded")
        if method == "GET":
            return client.get(url, **headers)
        return client.generic(method, url, body, content_type=content_type, **headers)


def url_for(endpoint: Endpoint, *, variant: str | None, world) -> str:
    if endpoint.key == ADMIN_GROUP:
        return ADMIN_URL_ASKED
    values = {"queue_id": world.queue_id, "task_id": world.golden_task_id, "set_id": world.golden_set_id,
              "task_kind": "relevance",
              "feedback_id": world.feedback_id, "session_id": world.calibration_session_id,
              "item_id": world.golden_item_id,
              "assignment_id": world.live_assignment_id, "run_id": world.run_id,
              "import_id": world.pair_import_id, "data_import_id": world.data_import_id, "user_id": world.labeler_id,
              "version_id": world.detector_id, "evaluation_id": world.offline_evaluation_id,
              "export_id": world.export_id, "job_id": world.training_job_id}
    media_paths = {"task image": world.labeler_image_name, "other image": world.other_image_name,
                   "checkpoint": world.checkpoint_name}
    kwargs = {}
    for name in _ROUTE_PARAMETER.findall(endpoint.route):
        if name == "path":
            kwargs[name] = media_paths[variant]
        else:
            assert name in values, f"Give the path parameter '{name}' of '{endpoint.route}' a real object's id."
            kwargs[name] = values[name]
    return reverse(endpoint.key, kwargs=kwargs) if endpoint.key != endpoint.route else "/" + endpoint.route


@pytest.fixture
def world(settings, tmp_path, db):
    from evaluation import runtime_cache

    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PRIVATE_ROOT = tmp_path / "private"
    settings.VAR_DIR = tmp_path / "var"
    # No collectstatic in the tests: let WhiteNoise find the files where the app keeps them.
    settings.WHITENOISE_USE_FINDERS = True
    runtime_cache.runtime_cache_clear()
    (tmp_path / "checkpoints").mkdir()
    yield api_world_build(checkpoint_folder=tmp_path / "checkpoints")
    runtime_cache.runtime_cache_clear()


def test_every_url_pattern_and_method_has_a_row_in_the_permission_table():
    gaps = permission_table_gaps(resolver=get_resolver(), table=PERMISSION_TABLE)
    assert not gaps, "\n".join(gaps)


def test_every_url_answers_every_identity_as_the_permission_table_says(world):
    from labeling.models import User

    users = {role: User.objects.get(username=username) for role, username in world.usernames.items()}
    endpoints = {endpoint.key: endpoint for endpoint in url_endpoints(get_resolver())}
    asker = Asker(users=users)
    mismatches, asked = [], 0
    for key, expected in PERMISSION_TABLE.items():
        name, method, variant = key[0], key[1], (key[2] if len(key) > 2 else None)
        if name == STATIC:
            url = STATIC_URL_ASKED
        else:
            url = url_for(endpoints[name], variant=variant, world=world)
        for identity in IDENTITIES:
            response = asker.ask(identity=identity, method=method, url=url)
            asked += 1
            got = answer_of(response)
            if got != expected[identity]:
                body = " ".join(response.content[:160].decode(errors="replace").split()) if got != 200 else ""
                mismatches.append(f"{method} {url} as {identity}: expected {expected[identity]}, got {got} {body}")
    assert not mismatches, f"{len(mismatches)} of {asked} answers differ from permission_table.py:\n" + "\n".join(
        mismatches)


def _reports_view(request):
    raise AssertionError("never called: the gaps are found from the URL configuration alone")


def test_a_new_url_without_a_row_fails_the_matrix_with_the_row_to_add():
    from config.urls import urlpatterns

    extended = URLResolver(RegexPattern(r"^/"), urlpatterns + [path("api/v1/reports", _reports_view, name="api-reports")])
    gaps = permission_table_gaps(resolver=extended, table=PERMISSION_TABLE)
    assert gaps == [MISSING_ROW.format(key="api-reports", route="api/v1/reports", method="GET")]


def test_a_row_for_a_url_that_is_gone_fails_the_matrix():
    table = {**PERMISSION_TABLE, ("api-reports", "GET"): everyone(200)}
    gaps = permission_table_gaps(resolver=get_resolver(), table=table)
    assert gaps == [STALE_ROW.format(row=("api-reports", "GET"), key="api-reports")]
