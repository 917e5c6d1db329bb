"""Guides, edge cases and the audit trail: publishing numbers versions, the diff, sanitised
rendering (the "When in doubt" list fix), edge-case answers checked by the kind, edge-case image
access for labelers, the APIs and the append-only audit log."""
from __future__ import annotations

import json
import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from labeling.answer_schemas import AnswerSchemaError
from labeling.calibration.audit import AuditAction, audit_events
from labeling.calibration.guide_markdown import guide_html
from labeling.calibration.guide_selectors import edge_cases_for_guide, guide_diff
from labeling.calibration.guides import (EDGE_CASE_REASON_EMPTY, EDGE_CASE_RULE_EMPTY, GUIDE_BODY_EMPTY, GuideError,
                                         edge_case_create, guide_version_publish)
from labeling.golden.services import GoldenItemInput, golden_item_revise, golden_items_put, golden_set_create
from labeling.media import MediaAccess, media_access
from labeling.models import AUDIT_APPEND_ONLY, AuditEvent, AuditLogAppendOnly, Role
from labeling.task_kinds import task_kind_spec
from tests.labeling.conftest import GOOD_RELEVANCE_ANSWER, relevance_payload

WHEN_IN_DOUBT = re.compile(r"<h2>When in doubt</h2>\s*(.*?)(?:<h2>|$)", re.S)


def section_after_when_in_doubt(html: str) -> str:
    return WHEN_IN_DOUBT.search(html).group(1)


# -- rendering --------------------------------------------------------------------------------

def test_the_shipped_relevance_guide_renders_when_in_doubt_as_one_list():
    html = guide_html(task_kind_spec("relevance").default_guide_body)
    section = section_after_when_in_doubt(html)
    assert section.count("<ul>") == 1 and section.count("<li>") == 4
    assert "<p>" not in section
    # A wrapped line stays inside its item.
    assert "an honest &quot;similar&quot; is worth more" in section


@pytest.mark.parametrize("body", [
    # items separated by blank lines
    "## When in doubt\n\n- Pick the lower grade.\n\n- Colour beats shape.\n\n- Ignore the background.\n",
    # unindented continuation lines
    "## When in doubt\n- Pick the lower grade. Results are counted\nconservatively.\n- Colour beats shape.\n"
    "- Ignore the background.\n",
    # a list right after a paragraph line, items with indented continuations after blank lines
    "## When in doubt\nWhen two grades fit:\n- Pick the lower grade.\n\n    Always.\n- Colour beats shape.\n"
    "- Ignore the background.\n",
])
def test_when_in_doubt_bullets_stay_one_list_however_they_are_spaced(body):
    section = section_after_when_in_doubt(guide_html(body))
    assert section.count("<ul>") == 1 and section.count("<li>") == 3
    assert "Pick the lower grade." in section.split("</li>")[0]


def test_a_numbered_list_resumed_after_bullets_keeps_its_numbers():
    html = guide_html("1. one\n2. two\n- aside\n3. three\n")
    assert '<ol start="3"><li>three</li></ol>' in html


def test_html_in_a_guide_is_escaped_and_unsafe_links_lose_their_url():
    html = guide_html('<script>window.pwned = 1</script>\n\n[click](javascript:alert(1)) '
                      '[x](data:text/html,hi) [ok](https://example.com/a?b=1&c=2) [rel](/overview/) '
                      '[proto](//evil.example) <img src=x onerror=alert(1)>')
    assert "<script" not in html and "&lt;script&gt;" in html
    assert "<img" not in html and "&lt;img" in html
    assert 'href="javascript' not in html and 'href="data' not in html and 'href="//' not in html
    assert '<a href="https://example.com/a?b=1&amp;c=2" rel="noopener noreferrer nofollow">ok</a>' in html
    assert '<a href="/overview/">rel</a>' in html


def test_edge_case_images_resolve_only_through_the_given_urls():
    html = guide_html("![a navy top](edge-case:7) ![gone](edge-case:8) ![web](https://evil.example/x.png)",
                      image_urls={7: "/media/crops/7.jpg"})
    assert '<img class="guide-image" src="/media/crops/7.jpg" alt="a navy top"' in html
    assert html.count("<img") == 1  # the unknown edge case and the web image are text


# -- publishing, diff --------------------------------------------------------------------------

def test_publishing_numbers_versions_per_kind_and_records_each(make_user):
    expert = make_user(Role.EXPERT)
    first = guide_version_publish(task_kind="relevance", body="# v1\n", published_by=expert)
    second = guide_version_publish(task_kind="relevance", body="# v2\n", published_by=expert, change_note="two",
                                   requires_requalification=True)
    other = guide_version_publish(task_kind="attributes", body="# a1\n", published_by=expert)
    assert (first.version, second.version, other.version) == (1, 2, 1)
    assert second.guide_id == first.guide_id and second.requires_requalification
    events = list(audit_events(action=AuditAction.GUIDE_VERSION_PUBLISHED))
    assert [e.details["version"] for e in events] == [1, 2, 1][::-1]
    assert events[1].details == {"task_kind": "relevance", "version": 2, "change_note": "two",
                                 "requires_requalification": True}
    with pytest.raises(GuideError, match=re.escape(GUIDE_BODY_EMPTY)):
        guide_version_publish(task_kind="relevance", body="  \n", published_by=expert)


def test_the_diff_marks_added_and_removed_lines():
    lines = guide_diff(old="# Guide\n- a\n- b\n", new="# Guide\n- a\n- c\n")
    assert [(line.tag, line.text) for line in lines] == [
        ("same", "# Guide"), ("same", "- a"), ("removed", "- b"), ("added", "- c")]


# -- edge cases --------------------------------------------------------------------------------

def test_an_edge_case_answer_is_validated_by_the_kind(make_user):
    expert = make_user(Role.EXPERT)
    version = guide_version_publish(task_kind="relevance", body="# g\n", published_by=expert)
    with pytest.raises(AnswerSchemaError):
        edge_case_create(task_kind="relevance", rule="r", payload=relevance_payload(1), answer={"grades": ["similar"]},
                         reason="why", created_by=expert)
    with pytest.raises(GuideError, match=re.escape(EDGE_CASE_RULE_EMPTY)):
        edge_case_create(task_kind="relevance", rule=" ", payload=relevance_payload(1), answer=GOOD_RELEVANCE_ANSWER,
                         reason="why", created_by=expert)
    with pytest.raises(GuideError, match=re.escape(EDGE_CASE_REASON_EMPTY)):
        edge_case_create(task_kind="relevance", rule="r", payload=relevance_payload(1), answer=GOOD_RELEVANCE_ANSWER,
                         reason="", created_by=expert)
    edge_case = edge_case_create(task_kind="relevance", rule="Colour beats shape", payload=relevance_payload(1),
                                 answer=GOOD_RELEVANCE_ANSWER, reason="same colour", created_by=expert)
    assert edge_case.guide_version == version
    assert audit_events(action=AuditAction.EDGE_CASE_CREATED).get().target_id == str(edge_case.pk)


def test_the_guide_panel_shows_this_and_older_versions_grouped_by_rule_in_one_query(make_user):
    expert = make_user(Role.EXPERT)
    v1 = guide_version_publish(task_kind="relevance", body="# g1\n", published_by=expert)
    for rule, number in (("Colour beats shape", 1), ("Lower grade", 2), ("Colour beats shape", 3)):
        edge_case_create(task_kind="relevance", rule=rule, payload=relevance_payload(number),
                         answer=GOOD_RELEVANCE_ANSWER, reason=f"reason {number}", created_by=expert)
    v2 = guide_version_publish(task_kind="relevance", body="# g2\n", published_by=expert)
    edge_case_create(task_kind="relevance", rule="Newer", payload=relevance_payload(4), answer=GOOD_RELEVANCE_ANSWER,
                     reason="only under v2", created_by=expert)
    with CaptureQueriesContext(connection) as queries:
        groups = edge_cases_for_guide(guide_version=v1)
    assert len(queries) == 1
    assert [(g.rule, len(g.cases)) for g in groups] == [("Colour beats shape", 2), ("Lower grade", 1)]
    case = groups[0].cases[0]
    assert case.images[0].startswith("/media/") and "/media/crops/1.jpg" in case.images
    assert case.answer_lines == ["Product 1: Extremely similar", "Product 2: Similar", "Product 3: Marginally similar",
                                 "Product 4: Not similar", "Product 5: Did not load"]
    assert [g.rule for g in edge_cases_for_guide(guide_version=v2)] == ["Colour beats shape", "Lower grade", "Newer"]


def test_a_labeler_sees_edge_case_images_of_guides_of_their_queues_only(make_user, make_queue, crowd_pool):
    expert = make_user(Role.EXPERT)
    guide_version_publish(task_kind="relevance", body="# g1\n", published_by=expert)
    edge_case_create(task_kind="relevance", rule="r", payload=relevance_payload(41), answer=GOOD_RELEVANCE_ANSWER,
                     reason="why", created_by=expert)
    labeler, outsider = make_user(Role.LABELER), make_user(Role.LABELER, pool=crowd_pool)
    name = "crops/41.jpg"
    assert media_access(user=labeler, name=name) is MediaAccess.NOT_YOURS  # no queue under the guide yet
    queue = make_queue(guide_version=guide_version_publish(task_kind="relevance", body="# g2\n", published_by=expert))
    queue.allowed_pools.set([labeler.pool])
    assert media_access(user=labeler, name=name) is MediaAccess.ALLOWED
    assert media_access(user=outsider, name=name) is MediaAccess.NOT_YOURS  # not their pool's queue
    assert media_access(user=labeler, name="crops/4.jpg") is MediaAccess.NOT_YOURS  # a prefix is not the image
    assert media_access(user=labeler, name="crops/99.jpg") is MediaAccess.NOT_YOURS


def test_answer_summaries_of_every_kind_are_readable():
    assert task_kind_spec("bounding_boxes").answer_summary(payload={}, answer={"boxes": []}) == ["Nothing to box"]
    boxes = {"boxes": [{"box": [0, 0, 1, 1], "category": "shoes"}, {"box": [1, 1, 2, 2], "category": "shoes"}]}
    assert task_kind_spec("bounding_boxes").answer_summary(payload={}, answer=boxes) == ["2 boxes", "shoes: 2"]
    assert task_kind_spec("attributes").answer_summary(
        payload={}, answer={"attributes": {"color": "navy", "sleeve_length": "cant_tell"}}) == [
        "Color: navy", "Sleeve length: can't tell"]
    assert task_kind_spec("matching_pair").answer_summary(
        payload={}, answer={"box": [1, 2, 30, 40.5], "category": "shoes", "match": "similar", "is_spam": False}) == [
        "Match: Similar item", "Category: shoes", "Box: [1, 2, 30, 40.5]", "Not spam"]


# -- audit trail -------------------------------------------------------------------------------

def test_golden_answer_changes_are_audited_with_old_and_new(make_user):
    expert = make_user(Role.EXPERT)
    golden_set = golden_set_create(name="g", task_kind="relevance")
    [item], _, _ = golden_items_put(golden_set=golden_set, items=[
        GoldenItemInput(key="k", payload=relevance_payload(1), answer={"grades": ["similar"] * 5}, expert=expert)])
    assert not audit_events(action=AuditAction.GOLDEN_ANSWER_CHANGED).exists()  # a new item is no change
    golden_items_put(golden_set=golden_set, items=[
        GoldenItemInput(key="k", payload=relevance_payload(1), answer=GOOD_RELEVANCE_ANSWER, expert=expert)])
    golden_item_revise(item=item, answer={"grades": ["not_similar"] * 5}, expert=expert, reason="fixed")
    first, second = reversed(list(audit_events(action=AuditAction.GOLDEN_ANSWER_CHANGED)))
    assert (first.details["old_revision"], first.details["revision"]) == (1, 2)
    assert first.details["old_answer"] == {"grades": ["similar"] * 5} and first.details["answer"] == GOOD_RELEVANCE_ANSWER
    assert (second.details["old_revision"], second.details["revision"], second.details["reason"]) == (2, 3, "fixed")
    assert second.actor == expert and (second.target_type, second.target_id) == ("labeling.goldenitem", str(item.pk))


def test_role_and_pool_changes_in_the_admin_are_audited(make_user, crowd_pool):
    admin_user = make_user(Role.ADMIN)
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save()
    person = make_user(Role.LABELER)
    client = Client()
    client.force_login(admin_user)
    page = client.get(f"/admin/labeling/user/{person.pk}/change/")
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data.update({"role": Role.EXPERT, "pool": crowd_pool.pk, "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00",
                 "last_login_0": "", "last_login_1": ""})
    data.pop("password", None)
    data.pop("date_joined", None)
    data.pop("last_login", None)
    data.pop("groups", None)
    data.pop("user_permissions", None)
    response = client.post(f"/admin/labeling/user/{person.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    role_event = audit_events(action=AuditAction.USER_ROLE_CHANGED).get()
    pool_event = audit_events(action=AuditAction.USER_POOL_CHANGED).get()
    assert role_event.details == {"username": person.username, "old": Role.LABELER, "new": Role.EXPERT}
    assert pool_event.details["new"] == crowd_pool.pk and role_event.actor == admin_user


def test_the_audit_log_refuses_update_and_delete(make_user):
    expert = make_user(Role.EXPERT)
    guide_version_publish(task_kind="relevance", body="# v1\n", published_by=expert)
    event = AuditEvent.objects.get(action=AuditAction.GUIDE_VERSION_PUBLISHED)
    event.details = {"forged": True}
    with pytest.raises(AuditLogAppendOnly, match=re.escape(AUDIT_APPEND_ONLY)):
        event.save()
    with pytest.raises(AuditLogAppendOnly, match=re.escape(AUDIT_APPEND_ONLY)):
        event.delete()
    assert AuditEvent.objects.get(pk=event.pk).details["version"] == 1


# -- APIs and pages ----------------------------------------------------------------------------

def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_guide_api_publishes_lists_and_previews(make_user):
    expert, engineer, labeler = make_user(Role.EXPERT), make_user(Role.ENGINEER), make_user(Role.LABELER)
    client = _client(expert)
    response = client.post("/api/v1/guides/relevance/versions", {"body": "# v1\n- a\n\n- b\n", "change_note": "first"},
                           content_type="application/json")
    assert response.status_code == 201 and response.json()["version"] == 1
    refused = client.post("/api/v1/guides/relevance/versions", {"body": "   "}, content_type="application/json")
    assert refused.status_code == 400
    assert _client(engineer).post("/api/v1/guides/relevance/versions", {"body": "# x"},
                                  content_type="application/json").status_code == 403
    versions = _client(engineer).get("/api/v1/guides/relevance/versions").json()
    assert [(v["version"], v["body"], v["created_by"]) for v in versions] == [(1, "# v1\n- a\n\n- b\n", expert.username)]
    assert client.get("/api/v1/guides/nope/versions").status_code == 404
    rows = {row["task_kind"]: row for row in client.get("/api/v1/guides").json()}
    assert rows["relevance"]["latest_version"] == 1 and rows["attributes"]["latest_version"] is None
    preview = client.post("/api/v1/guides/preview", {"body": "<script>x</script>\n- a\n\n- b"},
                          content_type="application/json").json()["html"]
    assert preview == "<p>&lt;script&gt;x&lt;/script&gt;</p>\n<ul><li>a</li><li>b</li></ul>"
    assert _client(labeler).post("/api/v1/guides/preview", {"body": "x"},
                                 content_type="application/json").status_code == 403


def test_the_audit_export_is_json_lines_filtered_by_action(make_user):
    expert = make_user(Role.EXPERT)
    guide_version_publish(task_kind="relevance", body="# v1\n", published_by=expert)
    edge_case_create(task_kind="relevance", rule="r", payload=relevance_payload(1), answer=GOOD_RELEVANCE_ANSWER,
                     reason="why", created_by=expert)
    client = _client(expert)
    response = client.get("/api/v1/audit-events")
    lines = [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]
    assert [line["action"] for line in lines] == [AuditAction.EDGE_CASE_CREATED, AuditAction.GUIDE_VERSION_PUBLISHED,
                                                  AuditAction.USER_CREATED]  # newest first; the expert's account came first
    assert lines[0]["actor"] == expert.username
    only = client.get("/api/v1/audit-events", {"action": AuditAction.GUIDE_VERSION_PUBLISHED})
    assert len(b"".join(only.streaming_content).decode().splitlines()) == 1
    assert client.get("/api/v1/audit-events", {"action": "nope"}).status_code == 400
    assert client.get("/api/v1/audit-events?action=").status_code == 400
    assert _client(make_user(Role.LABELER)).get("/api/v1/audit-events").status_code == 403


def test_the_guide_pages_render_and_the_diff_escapes(make_user):
    expert = make_user(Role.EXPERT)
    guide_version_publish(task_kind="relevance", body="# v1\n- a\n", published_by=expert)
    guide_version_publish(task_kind="relevance", body="# v1\n- <b>bold</b>\n", published_by=expert)
    client = _client(expert)
    diff = client.get("/overview/guides/relevance/diff/?a=1&b=2").content.decode()
    assert '<span class="diff-added">+ - &lt;b&gt;bold&lt;/b&gt;</span>' in diff
    assert client.get("/overview/guides/relevance/diff/?a=1&b=9").status_code == 404
    assert client.get("/overview/guides/relevance/diff/?a=x").status_code == 400
    assert client.get("/overview/guides/nope/edit/").status_code == 404
    assert client.get("/overview/guides/").status_code == 200
    assert client.get("/overview/guides/relevance/versions/").status_code == 200
    audit = client.get("/overview/audit/", {"action": AuditAction.GUIDE_VERSION_PUBLISHED})
    assert audit.status_code == 200 and audit.content.decode().count('data-testid="audit-event"') == 2
    assert client.get("/overview/audit/", {"action": "nope"}).status_code == 400
