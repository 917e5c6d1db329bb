"""schemathesis over the whole OpenAPI schema, anonymously and as each role, with every check.

A bounded, deterministic run (fixed seed, derandomized, a few examples per operation) against the
platform served over HTTP on loopback, with a world built by the real services so the fuzzer
reaches claims, submits, golden answers, runs and model versions, not only 404s. Any failed check
fails the test, with a curl command that reproduces each finding. The longer run is
benchmarks/api_fuzz.py (same code, more examples; figures in benchmarks/RESULTS_api_fuzz.md).
"""
from __future__ import annotations

import pytest

from api_fuzz_support import FUZZ_IDENTITIES, fuzz_run, fuzz_server, refusal_is_documented
from api_world import api_world_build

MAX_EXAMPLES = 4
SEED = 6
# schemathesis's coverage phase (boundary and invalid values of every parameter, about 3,000 cases
# per identity) is three quarters of the run's time. It runs as the admin, who passes every
# permission check and so reaches every validator; the other identities mostly meet their 401 or
# 403 before any validation, and get the examples, fuzzing and stateful phases. The long run
# (benchmarks/api_fuzz.py) runs every phase as every identity.
ALL_PHASES = ("examples", "coverage", "fuzzing", "stateful")
PHASES = {identity: ALL_PHASES if identity == "admin" else ("examples", "fuzzing", "stateful")
          for identity in FUZZ_IDENTITIES}


@pytest.fixture
def storage(settings, tmp_path):
    from evaluation import runtime_cache

    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PRIVATE_ROOT = tmp_path / "private"
    settings.VAR_DIR = tmp_path / "var"
    runtime_cache.runtime_cache_clear()
    yield tmp_path
    runtime_cache.runtime_cache_clear()


@pytest.fixture
def no_generation(monkeypatch):
    """Runs the fuzzer creates stay pending: no worker runs here, and a message left in the
    embedded broker would wait for one."""
    from evaluation import tasks

    enqueued = []
    monkeypatch.setattr(tasks.eval_run_generate, "delay", lambda run_id: enqueued.append(run_id))
    monkeypatch.setattr(tasks.offline_evaluation_run, "delay", lambda evaluation_id: enqueued.append(evaluation_id))
    return enqueued


@pytest.mark.django_db(transaction=True)
def test_schemathesis_finds_no_failure_anonymously_or_as_any_role(storage, no_generation):
    (storage / "checkpoints").mkdir()
    world = api_world_build(checkpoint_folder=storage / "checkpoints")
    summary = None
    with fuzz_server() as base_url:
        for identity in FUZZ_IDENTITIES:
            summary = fuzz_run(base_url=base_url, identity=identity, world=world,
                               max_examples=MAX_EXAMPLES, seed=SEED, summary=summary, phases=PHASES[identity])
    if summary.failures or summary.errors:
        report = "\n\n".join([failure.describe() for failure in summary.failures] + summary.errors)
        pytest.fail(f"{len(summary.failures)} schemathesis finding(s), {len(summary.errors)} engine error(s):\n\n"
                    f"{report}", pytrace=False)
    # The run reached the API, as every identity, and more than its refusals.
    assert len(summary.operations) >= 17
    assert all(summary.cases[identity] > 0 for identity in FUZZ_IDENTITIES)
    assert summary.statuses[200] > 0 and summary.statuses[201] > 0


class FakeResponse:
    def __init__(self, status_code: int, body):
        self.status_code, self._body = status_code, body

    def json(self):
        return self._body


DOCUMENTED_400 = {"responses": {"400": {"content": {"application/json": {"examples": {
    "Wrong number of grades": {"value": {"error": {"code": "answer_invalid", "message": "..."}}},
    "Unknown scene set": {"value": {"error": {"code": "invalid", "message": "...", "fields": {"scene_set": ["..."]}}}},
}}}}}}


def test_a_refusal_counts_as_documented_only_with_its_status_code_and_fields_listed():
    def documented(status_code, error):
        return refusal_is_documented(operation=DOCUMENTED_400, response=FakeResponse(status_code, {"error": error}))

    assert documented(400, {"code": "answer_invalid", "message": "'grades' must hold exactly 5 grades"})
    assert documented(400, {"code": "invalid", "message": "see fields", "fields": {"scene_set": ["Invalid pk"]}})
    assert not documented(422, {"code": "answer_invalid", "message": "another status"})
    assert not documented(400, {"code": "bad_credentials", "message": "another code"})
    assert not documented(400, {"code": "invalid", "message": "see fields", "fields": {"detector": ["Invalid pk"]}})
    assert not refusal_is_documented(operation=DOCUMENTED_400, response=FakeResponse(400, "<html>not JSON</html>"))
