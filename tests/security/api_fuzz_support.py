"""What the schemathesis runs share (tests/security/test_security_api_fuzz.py and benchmarks/api_fuzz.py):
the world of api_world.py, an API token for each role, and a run of
schemathesis' engine over the served OpenAPI schema (``/api/schema/``) against the platform served
over HTTP on loopback by Django's threaded WSGI server (the one ``runserver`` uses), so every
request goes through a real HTTP client and server.

The engine runs every phase that applies (examples, coverage, fuzzing, stateful) with every check
schemathesis has. The server answers from its own threads, so the world must be committed data.
Path parameters and the ids in bodies draw from the ids of real objects most of the time, so the
fuzzer gets past the 404s into the code behind them, and from random integers the rest of the time.
"""
from __future__ import annotations

import contextlib
import logging
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import schemathesis
from schemathesis.openapi.checks import RejectedPositiveData
from schemathesis.specs.openapi.checks import positive_data_acceptance

from api_world import ApiWorld


@schemathesis.serializer("application/x-ndjson")
def json_lines_body(ctx, value) -> bytes:
    """A golden-set import's JSON-lines body: the generated string (or bytes) as it is."""
    if isinstance(value, bytes):
        return value
    return value.encode("utf-8", "surrogatepass") if isinstance(value, str) else str(value).encode()

# Every role, and anonymous (no credentials at all).
FUZZ_IDENTITIES = ("anonymous", "labeler", "expert", "engineer", "admin")
# How often a path parameter takes the id of a real object rather than a generated integer.
REAL_ID_PROBABILITY = 0.75


@contextlib.contextmanager
def fuzz_server() -> Iterator[str]:
    """Serve the platform on a free loopback port for the duration; yields its base URL."""
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
    from django.core.wsgi import get_wsgi_application
    from django.db import connections

    class Handler(WSGIRequestHandler):
        # Without TCP_NODELAY every response that leaves in two writes waits out the client's
        # delayed ACK (40 ms on Linux), which would make the run mostly sleep.
        disable_nagle_algorithm = True

        def log_message(self, format, *args):  # noqa: A002 - the stdlib's name
            pass

        def handle_one_request(self):
            try:
                super().handle_one_request()
            finally:
                # A keep-alive connection keeps this thread waiting for the client's next request;
                # it must not keep a database connection open meanwhile (the test database is
                # dropped at the end of the session, which open connections would block).
                connections.close_all()

    application = get_wsgi_application()  # sets logging up again, so quieten it afterwards
    request_logger = logging.getLogger("django.request")
    level = request_logger.level
    # Every refusal is a django.request warning; thousands of them are noise here.
    request_logger.setLevel(logging.ERROR)
    server = ThreadedWSGIServer(("127.0.0.1", 0), Handler)
    server.set_app(application)
    thread = threading.Thread(target=server.serve_forever, name="api-fuzz-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
        request_logger.setLevel(level)


def world_token_provider(username: str):
    """A schemathesis auth provider that signs ``username`` in with a fresh API token, and again
    whenever a response is a 401: the fuzzer itself signs out (DELETE /auth/token) and revokes every
    token (POST /auth/token/revoke-all), and would otherwise spend the rest of the run signed out.
    Tokens come from the service, not from POST /auth/token: the fuzzer's wrong passwords lock that
    endpoint for this client address, as they should."""

    class WorldToken:
        def get(self, case, ctx):
            from django.db import connection

            from labeling.models import User
            from labeling.services.tokens import api_token_issue

            try:
                key, _ = api_token_issue(user=User.objects.get(username=username))
            finally:
                connection.close()  # one of the engine's threads: leave no connection open
            return key

        def set(self, case, data, ctx):
            case.headers = {**(case.headers or {}), "Authorization": f"Token {data}"}

    return WorldToken


@schemathesis.check
def positive_data_acceptance_unless_documented(ctx, response, case):
    """schemathesis' positive_data_acceptance (a schema-valid request must not be refused with 400,
    410, 413, 422 ...), except for a refusal the operation documents: its status is listed, with an
    example of the same error code and, for a validation error, of every field the error names.
    That is what labeling/api_schema.py's ``error_example`` writes."""
    try:
        return positive_data_acceptance(ctx, response, case)
    except RejectedPositiveData:
        if refusal_is_documented(operation=case.operation.definition.raw, response=response):
            return None
        raise


def refusal_is_documented(*, operation: dict, response) -> bool:
    documented = operation.get("responses", {}).get(str(response.status_code))
    try:
        error = response.json()["error"]
        code, fields = error["code"], set(error.get("fields") or ())
    except (ValueError, KeyError, TypeError):
        return False
    if documented is None:
        return False
    examples = [example.get("value", {}).get("error", {}) for media in documented.get("content", {}).values()
                for example in (media.get("examples") or {}).values()]
    same_code = [example for example in examples if example.get("code") == code]
    if not same_code:
        return False
    documented_fields = {name for example in same_code for name in (example.get("fields") or ())}
    return fields <= documented_fields


@dataclass
class FuzzFailure:
    identity: str
    check: str
    operation: str
    status_code: int | None
    title: str
    message: str
    curl: str

    def describe(self) -> str:
        return (f"[{self.identity}] {self.check} on {self.operation} (status {self.status_code}): {self.title}\n"
                f"    {self.message.strip().replace(chr(10), chr(10) + '    ')}\n    reproduce: {self.curl}")


@dataclass
class FuzzSummary:
    operations: set[str] = field(default_factory=set)
    cases: Counter = field(default_factory=Counter)  # identity -> generated cases
    statuses: Counter = field(default_factory=Counter)  # status code -> responses
    checks_run: Counter = field(default_factory=Counter)  # check name -> times it ran
    failures: list[FuzzFailure] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seen: set = field(default_factory=set, repr=False)

    def failures_per_check(self) -> Counter:
        return Counter(failure.check for failure in self.failures)


def fuzz_config(*, world: ApiWorld, max_examples: int, seed: int, phases: tuple[str, ...]):
    ids = world.path_ids() | world.body_ids()
    dictionaries = {f"real_{name}": {"values": values} for name, values in ids.items()}
    parameters = {f"path.{name}": {"dictionary": f"real_{name}", "probability": REAL_ID_PROBABILITY}
                  for name in world.path_ids()}
    parameters |= {f"body.{name}": {"dictionary": f"real_{name}", "probability": REAL_ID_PROBABILITY}
                   for name in world.body_ids()}
    config = {
        "seed": seed,
        # No cache of earlier runs' findings (.schemathesis/): each run is the same run.
        "cache": {"enabled": False},
        "workers": 1,
        "generation": {"max-examples": max_examples, "deterministic": True, "database": "none"},
        "phases": {name: {"enabled": name in phases} for name in ("examples", "coverage", "fuzzing", "stateful")},
        # Every check, with positive_data_acceptance replaced by its variant above.
        "checks": {"enabled": True, "positive_data_acceptance": {"enabled": False}},
        "dictionaries": dictionaries,
        "parameters": parameters,
    }
    return schemathesis.Config.from_dict(config)


def fuzz_run(*, base_url: str, identity: str, world: ApiWorld, max_examples: int, seed: int,
             phases: tuple[str, ...] = ("examples", "coverage", "fuzzing", "stateful"),
             summary: FuzzSummary | None = None) -> FuzzSummary:
    """Run schemathesis over the whole served schema as one identity (anonymous: no credentials, a
    role: that role's user of the world); gather what it saw."""
    from schemathesis.engine import events, from_schema
    from schemathesis.engine.run import PhaseName

    summary = summary or FuzzSummary()
    schema = schemathesis.openapi.from_url(
        f"{base_url}/api/schema/", config=fuzz_config(world=world, max_examples=max_examples, seed=seed, phases=phases))
    if identity != "anonymous":
        schema.auth(refresh_interval=3600, retry_on=[401])(world_token_provider(world.usernames[identity]))
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished) and event.is_test_scenario:
            _record_scenario(summary, identity=identity, recorder=event.recorder,
                             stateful=event.phase == PhaseName.STATEFUL_TESTING)
        elif isinstance(event, events.NonFatalError):
            summary.errors.append(f"[{identity}] {event.label}: {event.info}")
        elif isinstance(event, events.FatalError):
            raise event.exception
        elif isinstance(event, events.EngineFinished):
            for failure in event.failures:
                summary.failures.append(FuzzFailure(identity=identity, check="after_run", operation="*",
                                                    status_code=None, title=failure.title, message=failure.message,
                                                    curl=""))
    return summary


def _record_scenario(summary: FuzzSummary, *, identity: str, recorder, stateful: bool) -> None:
    if not stateful:  # a stateful scenario is a chain of calls, labelled "Stateful tests"
        summary.operations.add(recorder.label)
    summary.cases[identity] += len(recorder.cases)
    for case_id, interaction in recorder.interactions.items():
        if interaction.response is not None:
            summary.statuses[interaction.response.status_code] += 1
    for case_id, checks in recorder.checks.items():
        for check in checks:
            summary.checks_run[check.name] += 1
            if check.failure_info is None:
                continue
            failure = check.failure_info.failure
            # The same failure found again (by another phase, or another case) is one finding.
            key = (identity, check.name, recorder.label, failure.title, failure.message)
            if key in summary.seen:
                continue
            summary.seen.add(key)
            response = recorder.find_response(case_id=case_id)
            summary.failures.append(FuzzFailure(
                identity=identity, check=check.name, operation=recorder.label,
                status_code=response.status_code if response is not None else None,
                title=failure.title, message=failure.message, curl=check.failure_info.code_sample))
