"""The labeler's qualification page: the queue kind's editor driven by qualify.js against the
qualification API (labeling/calibration/api_qualification.py), one golden item at a time with the
expert's answer and reason after each. Thin: check the role, read, render."""
from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, render

from labeling.calibration import qualification
from labeling.models import Queue, Role
from labeling.permissions import role_required
from labeling.services.queue_engine import QueueEngineError, queue_check_open
from labeling.task_kinds import task_kind_spec

from frontend.views import API_PREFIX, NO_WEB_EDITOR

QUEUE_NEEDS_NO_QUALIFICATION = "This queue requires no qualification: start labeling from My queues."


@role_required(Role.LABELER, Role.EXPERT)
def qualify_page(request, queue_id: int):
    queue = get_object_or_404(Queue.objects.select_related("guide_version__guide", "qualification_set"), pk=queue_id)
    try:
        queue_check_open(queue=queue, labeler=request.user)
    except QueueEngineError as refusal:
        raise PermissionDenied(str(refusal)) from refusal
    spec = task_kind_spec(queue.task_kind)
    if spec.editor_template is None:
        raise Http404(NO_WEB_EDITOR.format(kind=spec.label))
    state = qualification.qualification_state(queue=queue, labeler=request.user)
    return render(request, "frontend/qualification.html", {
        "nav_section": "queues",
        "queue": queue,
        "kind_spec": spec,
        "state": state,
        "needs_no_qualification": not queue.requires_qualification,
        "needs_no_qualification_message": QUEUE_NEEDS_NO_QUALIFICATION,
        "editor_context": {**spec.editor_context(), "show_preannotations": False},
        "status_url": f"{API_PREFIX}/queues/{queue.pk}/qualification",
        "start_url": f"{API_PREFIX}/queues/{queue.pk}/qualification/start",
        "answer_url": f"{API_PREFIX}/queues/{queue.pk}/qualification/answer",
    })
