"""``/media/<name>``: stored files, served only to signed-in users who may see them.

Who sees what:

- anonymous users: nothing (401, whether the file exists or not);
- staff (experts, engineers, admins, superusers): every file, except that checkpoints
  (``checkpoints/...``) go only to engineers and admins (403 for experts);
- labelers: an image only when they hold or held an assignment, in any state, on a task that shows
  it (``TaskImage``, written by ``tasks_create``), one indexed query, or when the image is in an
  edge case the guide panel of a queue open to them shows (the edge cases of the queue's guide
  version and the guide's older ones: frontend work page), one more query; anything else is a 403
  that says nothing about whether the file exists;
- nobody: a path outside ``MEDIA_ROOT`` or under a never-served folder (404).

How the bytes go out (``MEDIA_SERVE_MODE``): ``django`` streams the file (the embedded default);
``x-accel-redirect`` answers with an empty body and ``X-Accel-Redirect: <MEDIA_ACCEL_PREFIX><name>``
for an nginx ``internal`` location; ``x-sendfile`` answers with ``X-Sendfile: <absolute path>`` for
Apache or lighttpd. Every answer is ``Cache-Control: private`` and ``nosniff``; only raster image
types are shown inline, anything else (a checkpoint, an SVG) is sent as an attachment so the
browser never renders it as a page of this site.
"""
from __future__ import annotations

import mimetypes
import os
import posixpath
from enum import Enum
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.db.models import Exists, OuterRef, TextField
from django.db.models.functions import Cast
from django.http import FileResponse, HttpResponse, HttpResponseNotModified
from django.utils._os import safe_join
from django.utils.http import http_date
from django.views.static import was_modified_since
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotAuthenticated, NotFound, PermissionDenied
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from labeling.calibration.session_selectors import calibration_participant_sees_image
from labeling.models import EdgeCase, Queue, Role, TaskImage, User
from labeling.services.tasks import payload_media_names

MEDIA_SIGN_IN_REQUIRED = "Sign in to see media files."
MEDIA_NOT_FOUND = "There is no such media file."
MEDIA_NOT_YOURS = "You may see only the images of tasks you are assigned or have labeled."
MEDIA_CHECKPOINT_FORBIDDEN = "Checkpoints are only for engineers and admins."

CHECKPOINT_FOLDER = "checkpoints/"
# Folders a served tree must never expose, even if a file lands there by mistake: scene truth
# lived here before it moved to private storage (migration labeling 0003).
NEVER_SERVED_FOLDERS = ("scene_truth/",)
# Types a browser may render inline from this origin; everything else is a download.
INLINE_CONTENT_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "image/avif"})
CACHE_CONTROL = "private, max-age=3600"


class MediaAccess(Enum):
    ALLOWED = "allowed"
    NOT_FOUND = "not_found"
    CHECKPOINT_FORBIDDEN = "checkpoint_forbidden"
    NOT_YOURS = "not_yours"


def media_name_clean(path: str) -> str | None:
    """The storage name a ``/media/`` path asks for, normalised, or None when it names nothing
    that can be under ``MEDIA_ROOT`` (``..``, NUL, backslashes, an empty name)."""
    if not path or "\x00" in path or "\\" in path:
        return None
    name = posixpath.normpath(path).lstrip("/")
    if name in ("", ".", "..") or name.startswith("../"):
        return None
    return name


def media_file_path(name: str) -> Path | None:
    """The file under ``MEDIA_ROOT`` holding ``name``, symlinks resolved, or None when there is
    no such regular file inside ``MEDIA_ROOT``."""
    root = os.path.realpath(settings.MEDIA_ROOT)
    try:
        full = os.path.realpath(safe_join(root, name))
    except (SuspiciousFileOperation, ValueError):
        return None
    if not full.startswith(root + os.sep) or not os.path.isfile(full):
        return None
    return Path(full)


def labeler_sees_image(*, labeler: User, name: str) -> bool:
    """Whether the labeler holds or held an assignment on a task that shows the stored image
    ``name``: one query, through the indexes on Image.file, TaskImage(image, task) and
    Assignment(task, ...)."""
    return TaskImage.objects.filter(image__file=name, task__assignments__labeler=labeler).exists()


def labeler_sees_edge_case_image(*, labeler: User, name: str) -> bool:
    """Whether ``name`` is an image of an edge case in the guide panel of an active queue open to
    the labeler's pool: the queue's guide is the edge case's and its version is the edge case's or
    newer. One query; the text match only narrows the candidates, the payload walk decides."""
    pools = Queue.allowed_pools.through.objects.filter(queue=OuterRef("pk"))
    queues = Queue.objects.filter(is_active=True, guide_version__guide_id=OuterRef("guide_version__guide_id"),
                                  guide_version__version__gte=OuterRef("guide_version__version"))
    queues = queues.filter(~Exists(pools) | Exists(pools.filter(pool_id=labeler.pool_id)))
    candidates = (EdgeCase.objects.annotate(payload_text=Cast("payload", TextField()))
                  .filter(payload_text__contains=settings.MEDIA_URL + name).filter(Exists(queues))
                  .values_list("payload", flat=True))
    return any(name in set(payload_media_names(payload)) for payload in candidates)


def media_access(*, user: User, name: str) -> MediaAccess:
    """What ``user`` (signed in) may do with the media file ``name`` (a clean name); existence is
    not checked here, so a refusal says nothing about whether the file is there."""
    if name.startswith(NEVER_SERVED_FOLDERS):
        return MediaAccess.NOT_FOUND
    if name.startswith(CHECKPOINT_FOLDER):
        return MediaAccess.ALLOWED if user.has_role(Role.ENGINEER) else MediaAccess.CHECKPOINT_FORBIDDEN
    if user.has_role(Role.EXPERT, Role.ENGINEER):
        return MediaAccess.ALLOWED
    if (labeler_sees_image(labeler=user, name=name) or labeler_sees_edge_case_image(labeler=user, name=name)
            or calibration_participant_sees_image(labeler=user, name=name)):
        return MediaAccess.ALLOWED
    return MediaAccess.NOT_YOURS


def media_response(*, request, name: str, path: Path) -> HttpResponse:
    """The answer that sends the file, in ``settings.MEDIA_SERVE_MODE``."""
    content_type, encoding = mimetypes.guess_type(name)
    if content_type is None or encoding is not None:
        # A .gz or .br file is sent as the bytes it is, not decoded by the browser.
        content_type = "application/octet-stream"
    inline = content_type in INLINE_CONTENT_TYPES
    mode = settings.MEDIA_SERVE_MODE
    if mode == "x-accel-redirect":
        response = HttpResponse(content_type=content_type)
        response["X-Accel-Redirect"] = settings.MEDIA_ACCEL_PREFIX + quote(name)
    elif mode == "x-sendfile":
        response = HttpResponse(content_type=content_type)
        response["X-Sendfile"] = str(path)
    else:
        stat = path.stat()
        if not was_modified_since(request.META.get("HTTP_IF_MODIFIED_SINCE"), stat.st_mtime):
            response = HttpResponseNotModified()
        else:
            response = FileResponse(path.open("rb"), content_type=content_type, as_attachment=not inline,
                                    filename=path.name)
            response["Last-Modified"] = http_date(stat.st_mtime)
    if not inline and "Content-Disposition" not in response:
        response["Content-Disposition"] = f'attachment; filename="{path.name}"'
    response["Cache-Control"] = CACHE_CONTROL
    response["X-Content-Type-Options"] = "nosniff"
    return response


class _JSONErrorsOnly(BaseContentNegotiation):
    """Refusals are JSON whatever the client accepts: an <img> asks for image/*, and a 406 there
    would hide the real reason."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type

    def select_parser(self, request, parsers):
        return None


class MediaFileView(APIView):
    """GET/HEAD ``/media/<path>``. Session or token sign-in, like the API; errors in the API's
    JSON error format."""

    http_method_names = ["get", "head"]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = _JSONErrorsOnly

    def permission_denied(self, request, message=None, code=None):
        if request.authenticators and not request.successful_authenticator:
            raise NotAuthenticated(MEDIA_SIGN_IN_REQUIRED)
        super().permission_denied(request, message=message, code=code)

    @extend_schema(exclude=True)
    def get(self, request, path: str):
        name = media_name_clean(path)
        if name is None:
            raise NotFound(MEDIA_NOT_FOUND)
        access = media_access(user=request.user, name=name)
        if access is MediaAccess.CHECKPOINT_FORBIDDEN:
            raise PermissionDenied(MEDIA_CHECKPOINT_FORBIDDEN)
        if access is MediaAccess.NOT_YOURS:
            raise PermissionDenied(MEDIA_NOT_YOURS)
        file_path = media_file_path(name) if access is MediaAccess.ALLOWED else None
        if file_path is None:
            raise NotFound(MEDIA_NOT_FOUND)
        return media_response(request=request, name=name, path=file_path)
