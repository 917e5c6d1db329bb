"""Guide pages (list, editor with live preview, history, diff), the edge-case library and its
"make an edge case" page, and the audit trail. Thin: check the role, call one selector or
service, render. Experts and admins write; engineers read."""
from __future__ import annotations

import json

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.safestring import mark_safe

from labeling.answer_schemas import AnswerSchemaError
from labeling.calibration import guide_selectors
from labeling.calibration.api_guides import AUDIT_ACTION_UNKNOWN, AUDIT_ACTIONS, GUIDE_KIND_UNKNOWN
from labeling.calibration.audit import audit_events
from labeling.calibration.guides import GuideError, edge_case_create, guide_version_publish
from labeling.golden import selectors as golden_selectors
from labeling.models import GoldenItem, GuideVersion, Role, Task, TaskKind
from labeling.permissions import role_required, user_has_role
from labeling.selectors import guide_version_latest
from labeling.task_kinds import task_kind_spec

from frontend.views import API_PREFIX, NO_WEB_EDITOR

EDGE_CASE_SOURCE_MISSING = "Say which item the edge case is made from: ?task=<task id> or ?golden_item=<item id>."
EDGE_CASE_ANSWER_NOT_JSON = "The answer did not arrive as JSON: answer the item in the editor and save again."
DIFF_VERSION_NOT_A_NUMBER = "'a' and 'b' are version numbers (1, 2, ...)."
AUDIT_EVENTS_PER_PAGE = 50


def _kind_or_404(task_kind: str) -> str:
    if task_kind not in TaskKind.values:
        raise Http404(GUIDE_KIND_UNKNOWN.format(kind=task_kind, kinds=", ".join(TaskKind.values)))
    return task_kind


class GuidePublishForm(forms.Form):
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 24, "id": "guide-body-input",
                                                       "data-testid": "guide-body-input"}), strip=False)
    change_note = forms.CharField(required=False, max_length=2000,
                                  widget=forms.TextInput(attrs={"data-testid": "guide-change-note"}))
    requires_requalification = forms.BooleanField(
        required=False, label="Require re-qualification",
        help_text="labelers pass the kind's qualification again before claiming from queues that require it")


@role_required(Role.EXPERT, Role.ENGINEER)
def guide_list(request):
    return render(request, "frontend/guide_list.html", {
        "nav_section": "guides", "rows": guide_selectors.guide_rows_by_kind(),
        "can_edit": user_has_role(request.user, Role.EXPERT)})


@role_required(Role.EXPERT)
def guide_edit(request, task_kind: str):
    """The Markdown editor with a live preview (guide_editor.js asks the server to render); Publish
    makes a new version."""
    task_kind = _kind_or_404(task_kind)
    spec = task_kind_spec(task_kind)
    latest = guide_version_latest(task_kind=task_kind)
    initial_body = latest.body if latest else spec.default_guide_body
    form = GuidePublishForm(request.POST or None, initial={"body": initial_body})
    if request.method == "POST" and form.is_valid():
        try:
            version = guide_version_publish(task_kind=task_kind, published_by=request.user, **form.cleaned_data)
        except GuideError as refusal:
            form.add_error(refusal.field if refusal.field in form.fields else None, str(refusal))
        else:
            messages.success(request, f"Published {version.guide.title} v{version.version}.")
            return redirect("frontend:guide-versions", task_kind=task_kind)
    body = form["body"].value() or ""
    return render(request, "frontend/guide_edit.html", {
        "nav_section": "guides", "task_kind": task_kind, "kind_spec": spec, "latest": latest, "form": form,
        "preview_html": mark_safe(guide_selectors.guide_render(body=body)),
        "preview_url": f"{API_PREFIX}/guides/preview",
        "edge_cases": guide_selectors.edge_cases_for_guide(guide_version=latest),
    })


@role_required(Role.EXPERT, Role.ENGINEER)
def guide_versions(request, task_kind: str):
    task_kind = _kind_or_404(task_kind)
    versions = list(guide_selectors.guide_versions(task_kind=task_kind))
    return render(request, "frontend/guide_versions.html", {
        "nav_section": "guides", "task_kind": task_kind, "kind_spec": task_kind_spec(task_kind),
        "versions": versions, "can_edit": user_has_role(request.user, Role.EXPERT),
        "latest_html": mark_safe(guide_selectors.guide_render(body=versions[0].body)) if versions else "",
    })


def _version_number(value: str | None) -> int | None:
    if value in (None, ""):
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(DIFF_VERSION_NOT_A_NUMBER)
    return int(value)


@role_required(Role.EXPERT, Role.ENGINEER)
def guide_diff(request, task_kind: str):
    """``?a=1&b=2``: the line diff from version a to version b (default: the newest two)."""
    task_kind = _kind_or_404(task_kind)
    try:
        a, b = _version_number(request.GET.get("a")), _version_number(request.GET.get("b"))
    except ValueError as refusal:
        return HttpResponseBadRequest(str(refusal))
    versions = list(guide_selectors.guide_versions(task_kind=task_kind))
    by_number = {version.version: version for version in versions}
    if b is None:
        b = versions[0].version if versions else None
    if a is None:
        a = next((v.version for v in versions if b is not None and v.version < b), None)
    if (a is not None and a not in by_number) or (b is not None and b not in by_number):
        raise Http404("There is no such version of this guide.")
    old, new = by_number.get(a), by_number.get(b)
    return render(request, "frontend/guide_diff.html", {
        "nav_section": "guides", "task_kind": task_kind, "kind_spec": task_kind_spec(task_kind),
        "versions": versions, "old": old, "new": new,
        "lines": guide_selectors.guide_diff(old=old.body, new=new.body) if old and new else [],
    })


class EdgeCaseForm(forms.Form):
    rule = forms.CharField(max_length=200, widget=forms.TextInput(attrs={"data-testid": "edge-case-rule"}),
                           help_text="the guide rule it illustrates, e.g. “When in doubt: pick the lower grade”")
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "data-testid": "edge-case-reason"}))
    guide_version = forms.ModelChoiceField(queryset=GuideVersion.objects.none(), empty_label=None)
    answer = forms.CharField(widget=forms.HiddenInput(attrs={"id": "edge-case-answer"}))

    def __init__(self, *args, task_kind: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["guide_version"].queryset = guide_selectors.guide_versions(task_kind=task_kind)
        self.fields["guide_version"].label_from_instance = lambda v: f"v{v.version} ({v.created_at:%Y-%m-%d})"

    def clean_answer(self):
        try:
            return json.loads(self.cleaned_data["answer"])
        except ValueError as error:
            raise forms.ValidationError(EDGE_CASE_ANSWER_NOT_JSON) from error


def _edge_case_source(request) -> tuple[str, dict, dict | None, Task | None, GoldenItem | None]:
    """(kind, payload, initial answer, source task, golden item) of ``?task=`` or ``?golden_item=``."""
    task_id, item_id = request.GET.get("task", ""), request.GET.get("golden_item", "")
    if task_id.isdigit():
        task = get_object_or_404(Task.objects.select_related("queue", "golden_item__golden_set"), pk=int(task_id))
        item = task.golden_item or golden_selectors.golden_item_for_task(task=task)
        return task.queue.task_kind, task.payload, item.answer if item else None, task, item
    if item_id.isdigit():
        item = get_object_or_404(GoldenItem.objects.select_related("golden_set", "source_task"), pk=int(item_id))
        return item.golden_set.task_kind, item.payload, item.answer, item.source_task, item
    raise Http404(EDGE_CASE_SOURCE_MISSING)


@role_required(Role.EXPERT)
def edge_case_new(request):
    """Make an edge case from a task or a golden item: the item, the right answer (the kind's
    editor in expert mode, as on the golden editor), the rule and the reason."""
    task_kind, payload, initial_answer, task, item = _edge_case_source(request)
    spec = task_kind_spec(task_kind)
    if spec.editor_template is None:
        raise Http404(NO_WEB_EDITOR.format(kind=spec.label))
    latest = guide_version_latest(task_kind=task_kind)
    form = EdgeCaseForm(request.POST or None, task_kind=task_kind,
                        initial={"guide_version": latest.pk if latest else None,
                                 "reason": item.reason if item else ""})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            edge_case = edge_case_create(task_kind=task_kind, rule=data["rule"], payload=payload,
                                         answer=data["answer"], reason=data["reason"], created_by=request.user,
                                         guide_version=data["guide_version"], source_task=task, golden_item=item)
        except (GuideError, AnswerSchemaError) as refusal:
            field = getattr(refusal, "field", None)
            form.add_error(field if field in form.fields else None, str(refusal))
        else:
            messages.success(request, f"Edge case #{edge_case.pk} added to {edge_case.guide_version}.")
            return redirect("frontend:edge-case-library")
    return render(request, "frontend/edge_case_new.html", {
        "nav_section": "guides", "kind_spec": spec, "task": task, "golden_item": item, "form": form,
        "no_guide": latest is None,
        "editor_context": {**spec.editor_context(), "show_preannotations": False},
        "expert_task": {"id": task.pk if task else 0, "kind": spec.kind,
                        "payload": spec.payload_for_labeler(payload=payload, show_preannotations=False)},
        "initial_answer": initial_answer,
    })


@role_required(Role.EXPERT, Role.ENGINEER)
def edge_case_library(request):
    return render(request, "frontend/edge_case_library.html", {
        "nav_section": "guides", "kinds": guide_selectors.edge_case_library()})


@role_required(Role.EXPERT, Role.ENGINEER)
def audit_trail(request):
    """The append-only log, newest first, optionally of one action; paginated."""
    action = request.GET.get("action") or None
    if action is not None and action not in AUDIT_ACTIONS:
        return HttpResponseBadRequest(AUDIT_ACTION_UNKNOWN.format(action=action, actions=", ".join(AUDIT_ACTIONS)))
    page = Paginator(audit_events(action=action), AUDIT_EVENTS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "frontend/audit_trail.html", {
        "nav_section": "guides", "page": page, "action": action or "", "actions": AUDIT_ACTIONS})

