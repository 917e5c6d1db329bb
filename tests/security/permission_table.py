"""Who gets what: the one declared table the permission matrix
(tests/security/test_security_permission_matrix.py) checks every URL of the platform against.

A row is ``(url name, method)``, or ``(url name, method, variant)`` where one pattern is asked for
different objects (``/media/`` for a task's image, another image, a checkpoint); its value gives
the expected answer for anonymous users and each role. The matrix asks every URL pattern of the
URL configuration with GET and with every other method its view handles; a pattern or method
without a row fails the test, and so does a row for a pattern that no longer exists.

What the requests are: API URLs with ``Authorization: Token`` (a fresh token each), pages,
media and the admin with a signed-in session; path parameters are ids of real objects the test
creates (api_world.py); POST, PUT and DELETE send an empty body (``{}`` to the API). So a write
that a role may make answers 400 here (the body is invalid), one it may not make 403, and
anonymous API calls 401.

Expected values: an HTTP status, or where to a 302 goes: ``LOGIN`` (the sign-in page, with
``?next=``), ``ADMIN_LOGIN`` (the admin's sign-in page), ``ELSEWHERE`` (anywhere else: a role's
home page).
"""
from __future__ import annotations

IDENTITIES = ("anonymous", "labeler", "expert", "engineer", "admin")

LOGIN = "302 to /login/"
ADMIN_LOGIN = "302 to /admin/login/"
ELSEWHERE = "302 elsewhere"

# The Django admin is one row: every admin URL is the same gate (is_staff, which only admins have).
ADMIN_GROUP = "admin:*"
# Static files are served by WhiteNoise (middleware, no URL pattern) to everyone: they are the
# public CSS and JavaScript of the pages.
STATIC = "static"


def row(anonymous, labeler, expert, engineer, admin) -> dict[str, int | str]:
    return {"anonymous": anonymous, "labeler": labeler, "expert": expert, "engineer": engineer, "admin": admin}


def everyone(expected) -> dict[str, int | str]:
    return row(expected, expected, expected, expected, expected)


PERMISSION_TABLE: dict[tuple[str, ...], dict[str, int | str]] = {
    # -- API: accounts and tokens ---------------------------------------------------------------
    ("api-token", "GET"): everyone(405),
    ("api-token", "POST"): everyone(400),  # sign-in is open to all; an empty body is invalid
    ("api-token", "DELETE"): row(401, 204, 204, 204, 204),  # signs out the token it carries
    ("api-token-revoke-all", "GET"): row(401, 405, 405, 405, 405),
    ("api-token-revoke-all", "POST"): row(401, 200, 200, 200, 200),
    ("api-me", "GET"): row(401, 200, 200, 200, 200),
    ("api-my-labels", "GET"): row(401, 200, 200, 200, 200),
    # -- API: labeling ---------------------------------------------------------------------------
    ("api-queues", "GET"): row(401, 200, 200, 200, 200),
    ("api-queue-claim", "GET"): row(401, 405, 405, 403, 405),
    ("api-queue-claim", "POST"): row(401, 200, 200, 403, 200),  # labelers and experts label
    ("api-queue-tasks", "GET"): row(401, 403, 200, 200, 200),  # staff only: golden flags
    ("api-assignment-submit", "GET"): row(401, 405, 405, 403, 405),
    ("api-assignment-submit", "POST"): row(401, 400, 400, 403, 400),
    ("api-assignment-submit-and-claim", "GET"): row(401, 405, 405, 403, 405),
    ("api-assignment-submit-and-claim", "POST"): row(401, 400, 400, 403, 400),
    # -- API: qualification (a labeler's own; the world's queue requires none), feed, flags ------
    ("api-qualification-status", "GET"): row(401, 200, 200, 403, 200),
    ("api-qualification-start", "GET"): row(401, 405, 405, 403, 405),
    ("api-qualification-start", "POST"): row(401, 409, 409, 403, 409),  # the queue requires no qualification
    ("api-qualification-answer", "GET"): row(401, 405, 405, 403, 405),
    ("api-qualification-answer", "POST"): row(401, 400, 400, 403, 400),
    ("api-feedback-read", "GET"): row(401, 405, 405, 405, 405),
    ("api-feedback-read", "POST"): row(401, 200, 404, 404, 404),  # the labeler's own feedback; anyone else's: 404
    ("api-labeler-flag-clear", "GET"): row(401, 403, 405, 403, 405),
    ("api-labeler-flag-clear", "POST"): row(401, 403, 400, 403, 400),  # experts (and admins) clear
    ("api-assignment-skip", "GET"): row(401, 405, 405, 403, 405),
    # The labeler's own live lease: skipped. Anyone else's: 403, whatever their role.
    ("api-assignment-skip", "POST"): row(401, 200, 403, 403, 403),
    ("api-golden-answer", "GET"): row(401, 403, 200, 200, 200),  # never to labelers
    ("api-golden-answer", "POST"): row(401, 403, 400, 403, 400),  # experts (and admins) write
    # -- API: golden sets and items: staff read, experts (and admins) write, labelers never ------
    ("api-golden-sets", "GET"): row(401, 403, 200, 200, 200),
    ("api-golden-sets", "POST"): row(401, 403, 400, 403, 400),
    ("api-golden-set-items", "GET"): row(401, 403, 200, 200, 200),
    ("api-golden-set-export", "GET"): row(401, 403, 200, 200, 200),
    ("api-golden-set-import", "GET"): row(401, 403, 405, 403, 405),
    ("api-golden-set-import", "POST"): row(401, 403, 415, 403, 415),  # JSON lines, not a JSON body
    ("api-golden-item", "GET"): row(401, 403, 200, 200, 200),
    ("api-golden-item", "PUT"): row(401, 403, 400, 403, 400),
    # -- API: guides and the audit export: staff read, experts (and admins) publish --------------
    ("api-guides", "GET"): row(401, 403, 200, 200, 200),
    ("api-guide-versions", "GET"): row(401, 403, 200, 200, 200),
    ("api-guide-versions", "POST"): row(401, 403, 400, 403, 400),
    ("api-guide-preview", "GET"): row(401, 403, 405, 405, 405),
    ("api-guide-preview", "POST"): row(401, 403, 400, 400, 400),  # an empty body has no text
    ("api-audit-events", "GET"): row(401, 403, 200, 200, 200),
    # -- API: creator-pair imports: staff only, labelers never ------------------------------------
    ("api-pair-imports", "GET"): row(401, 403, 200, 200, 200),
    ("api-pair-imports", "POST"): row(401, 403, 415, 415, 415),  # a multipart upload, not a JSON body
    ("api-pair-import", "GET"): row(401, 403, 200, 200, 200),
    # -- API: catalogue and COCO imports: staff only, labelers never ----------------------------
    ("api-data-imports", "GET"): row(401, 403, 200, 200, 200),
    ("api-data-imports", "POST"): row(401, 403, 415, 415, 415),  # a multipart upload, not a JSON body
    ("api-data-import", "GET"): row(401, 403, 200, 200, 200),
    # -- API: training-data exports: staff only, labelers never ---------------------------------
    ("api-exports", "GET"): row(401, 403, 200, 200, 200),
    ("api-exports", "POST"): row(401, 403, 400, 400, 400),  # an empty body names no format
    ("api-export", "GET"): row(401, 403, 200, 200, 200),
    ("api-export-download", "GET"): row(401, 403, 409, 409, 409),  # the world's export is not done
    ("api-export-rebuild", "GET"): row(401, 403, 405, 405, 405),  # a POST only
    ("api-export-rebuild", "POST"): row(401, 403, 201, 201, 201),
    ("api-export-formats", "GET"): row(401, 403, 200, 200, 200),
    # -- API: label quality: staff read exports and reports, everyone their own figures ----------
    # Asked without ?kind=: staff get 400 (the kind is required), labelers 403 before that.
    ("api-quality-labels", "GET"): row(401, 403, 400, 400, 400),
    ("api-quality-golden", "GET"): row(401, 403, 400, 400, 400),
    ("api-quality-aggregated", "GET"): row(401, 403, 400, 400, 400),  # no ?queue=
    ("api-quality-report", "GET"): row(401, 403, 400, 400, 400),
    ("api-my-quality", "GET"): row(401, 200, 200, 200, 200),
    # -- API: evaluation -------------------------------------------------------------------------
    ("eval-run-list", "GET"): row(401, 403, 200, 200, 200),
    ("eval-run-list", "POST"): row(401, 403, 403, 400, 400),
    ("eval-run-detail", "GET"): row(401, 403, 200, 200, 200),
    ("eval-run-compare", "GET"): row(401, 403, 400, 400, 400),  # no `runs` in the query
    ("eval-run-qrels", "GET"): row(401, 403, 200, 200, 200),
    ("eval-run-trec-run", "GET"): row(401, 403, 200, 200, 200),
    ("model-version-list", "GET"): row(401, 403, 200, 200, 200),
    ("model-version-list", "POST"): row(401, 403, 403, 400, 400),
    ("model-version-detail", "GET"): row(401, 403, 200, 200, 200),
    ("model-version-offline-evaluations", "GET"): row(401, 403, 405, 405, 405),  # a POST-only endpoint
    ("model-version-offline-evaluations", "POST"): row(401, 403, 403, 202, 202),  # {}: every parameter its default
    ("offline-evaluation-detail", "GET"): row(401, 403, 200, 200, 200),
    ("training-job-list", "GET"): row(401, 403, 200, 200, 200),
    ("training-job-list", "POST"): row(401, 403, 403, 400, 400),  # {}: no kind, name, parent or exports
    ("training-job-detail", "GET"): row(401, 403, 200, 200, 200),
    ("training-job-cancel", "GET"): row(401, 403, 405, 405, 405),  # a POST-only endpoint
    ("training-job-cancel", "POST"): row(401, 403, 403, 409, 409),  # the world's job has ended
    ("scene-set-list", "GET"): row(401, 403, 200, 200, 200),
    ("box-queue-job", "GET"): row(401, 403, 404, 404, 404),  # the world's queue is a relevance queue
    # -- API documentation: public, like the API's own reference --------------------------------
    ("api-schema", "GET"): everyone(200),
    ("api-docs", "GET"): everyone(200),
    # -- pages -----------------------------------------------------------------------------------
    ("frontend:home", "GET"): row(LOGIN, ELSEWHERE, ELSEWHERE, ELSEWHERE, 200),
    ("frontend:login", "GET"): everyone(200),
    ("frontend:login", "POST"): everyone(200),  # an empty form: shown again with its errors
    ("frontend:login", "PUT"): everyone(200),  # Django's form views treat PUT as POST
    ("frontend:logout", "GET"): everyone(405),  # signing out is a POST (CSRF-protected)
    ("frontend:logout", "POST"): everyone(LOGIN),
    ("frontend:my-queues", "GET"): row(LOGIN, 200, 200, 403, 200),
    ("frontend:grading-page", "GET"): row(LOGIN, 200, 200, 403, 200),
    ("frontend:work-page", "GET"): row(LOGIN, 200, 200, 403, 200),
    ("frontend:qualify", "GET"): row(LOGIN, 200, 200, 403, 200),
    ("frontend:box-queue-new", "GET"): row(LOGIN, 403, 200, 200, 200),
    ("frontend:box-queue-new", "POST"): row(LOGIN, 403, 200, 200, 200),  # an empty form: shown again
    ("frontend:task-review", "GET"): row(LOGIN, 403, 200, 200, 200),
    ("frontend:golden-editor", "GET"): row(LOGIN, 403, 200, 403, 200),  # experts (and admins) answer
    ("frontend:golden-set-list", "GET"): row(LOGIN, 403, 200, 200, 200),
    ("frontend:guide-list", "GET"): row(LOGIN, 403, 200, 200, 200),
    ("frontend:guide-edit", "GET"): row(LOGIN, 403, 200, 403, 200),  # experts (and admins) publish
    ("frontend:guide-edit", "POST"): row(LOGIN, 403, 200, 403, 200),  # an empty form: shown again
    ("frontend:guide-versions", "GET"): row(LOGIN, 403, 200, 200, 200),
    ("frontend:guide-diff", "GET"): row(LOGIN, 403, 200, 200, 200),
    ("frontend:edge-case-library", "GET"): row(LOGIN, 403, 200, 200, 200),
    # Without ?task= or ?golden_item= there is no item to make an edge case of.
    ("frontend:edge-case-new", "GET"): row(LOGIN, 403, 404, 403, 404),
    ("frontend:edge-case-new", "POST"): row(LOGIN, 403, 404, 403, 404),
    ("frontend:audit-trail", "GET"): row(LOGIN, 403, 200, 200, 200),
    ("frontend:pair-import-list", "GET"): row(LOGIN, 403, 200, 200, 200),
    ("frontend:pair-import-list", "POST"): row(LOGIN, 403, 200, 200, 200),  # an empty form: shown again
    ("frontend:data-import-list", "GET"): row(LOGIN, 403, 200, 200, 200),
    ("frontend:data-import-list", "POST"): row(LOGIN, 403, 200, 200, 200),  # an empty form: shown again
    ("frontend:export-list", "GET"): row(LOGIN, 403, 200, 200, 200),
    ("frontend:export-list", "POST"): row(LOGIN, 403, 200, 200, 200),  # an empty form: shown again
    ("frontend:export-detail", "GET"): row(LOGIN, 403, 200, 200, 200),
    ("frontend:export-detail", "POST"): row(LOGIN, 403, ELSEWHERE, ELSEWHERE, ELSEWHERE),  # rebuild, then its page
    ("frontend:attribute-queue-new", "GET"): row(LOGIN, 403, 200, 200, 200),
    ("frontend:attribute-queue-new", "POST"): row(LOGIN, 403, 200, 200, 200),  # an empty form: shown again
    ("frontend:cleanup-queue-new", "GET"): row(LOGIN, 403, 200, 200, 200),
    ("frontend:cleanup-queue-new", "POST"): row(LOGIN, 403, 200, 200, 200),  # an empty form: shown again
    ("frontend:attribute-schema", "GET"): row(LOGIN, 403, 200, 200, 200),
    ("frontend:attribute-schema", "POST"): row(LOGIN, 403, 200, 403, 200),  # experts (and admins) edit
    ("frontend:expert-overview", "GET"): row(LOGIN, 403, 200, 200, 200),
    ("frontend:queue-detail", "GET"): row(LOGIN, 403, 200, 200, 200),
    ("frontend:queue-settings", "GET"): row(LOGIN, 403, 405, 405, 405),  # a form's target: POST only
    ("frontend:queue-settings", "POST"): row(LOGIN, 403, ELSEWHERE, ELSEWHERE, ELSEWHERE),  # back to the queue page
    # The quality dashboard defaults to relevance without ?kind=; its status is what quality.js polls.
    ("frontend:quality-dashboard", "GET"): row(LOGIN, 403, 200, 200, 200),
    ("frontend:quality-status", "GET"): row(LOGIN, 403, 200, 200, 200),
    ("frontend:labeler-quality", "GET"): row(LOGIN, 403, 200, 200, 200),
    ("frontend:labeler-quality", "POST"): row(LOGIN, 403, 200, 403, 200),  # experts (and admins) give feedback
    ("frontend:my-quality", "GET"): row(LOGIN, 200, 200, 200, 200),
    ("frontend:my-quality", "POST"): row(LOGIN, 404, 404, 404, 404),  # "mark read" of one's own feedback; none given: 404
    # Triage and calibration sessions: staff read, experts (and admins) decide; an empty form is shown
    # again with its error. The world's session has the labeler as its one participant.
    ("frontend:triage", "GET"): row(LOGIN, 403, 200, 200, 200),
    ("frontend:triage-item", "GET"): row(LOGIN, 403, 200, 200, 200),
    ("frontend:triage-item", "POST"): row(LOGIN, 403, 400, 403, 400),
    ("frontend:calibration-list", "GET"): row(LOGIN, 403, 200, 200, 200),
    ("frontend:calibration-new", "GET"): row(LOGIN, 403, 200, 403, 200),
    ("frontend:calibration-new", "POST"): row(LOGIN, 403, 400, 403, 400),
    ("frontend:calibration-session", "GET"): row(LOGIN, 403, 200, 200, 200),
    ("frontend:calibration-session", "POST"): row(LOGIN, 403, ELSEWHERE, 403, ELSEWHERE),  # reveal, then back
    ("frontend:calibration-answer", "GET"): row(LOGIN, 200, 403, 403, 403),  # participants only
    ("frontend:calibration-answer", "POST"): row(LOGIN, 400, 403, 403, 403),  # an empty answer is refused
    ("frontend:eval-run-list", "GET"): row(LOGIN, 403, 403, 200, 200),
    ("frontend:eval-run-new", "GET"): row(LOGIN, 403, 403, 200, 200),
    ("frontend:eval-run-new", "POST"): row(LOGIN, 403, 403, 200, 200),  # an empty form: shown again
    ("frontend:eval-run-detail", "GET"): row(LOGIN, 403, 403, 200, 200),
    ("frontend:eval-run-compare", "GET"): row(LOGIN, 403, 403, 400, 400),  # no runs chosen
    ("frontend:model-version-list", "GET"): row(LOGIN, 403, 403, 200, 200),
    ("frontend:model-version-new", "GET"): row(LOGIN, 403, 403, 200, 200),
    ("frontend:model-version-new", "POST"): row(LOGIN, 403, 403, 200, 200),  # an empty form: shown again
    ("frontend:model-version-detail", "GET"): row(LOGIN, 403, 403, 200, 200),
    # An empty form starts an offline evaluation with the default test sets, then back to the page.
    ("frontend:model-version-detail", "POST"): row(LOGIN, 403, 403, ELSEWHERE, ELSEWHERE),
    ("frontend:model-version-compare", "GET"): row(LOGIN, 403, 403, 400, 400),  # no versions chosen
    ("frontend:training-job-list", "GET"): row(LOGIN, 403, 403, 200, 200),
    ("frontend:training-job-list", "POST"): row(LOGIN, 403, 403, 200, 200),  # an empty form: shown again
    ("frontend:training-job-detail", "GET"): row(LOGIN, 403, 403, 200, 200),
    ("frontend:training-job-detail", "POST"): row(LOGIN, 403, 403, ELSEWHERE, ELSEWHERE),  # cancel, then its page
    # -- the Django admin ------------------------------------------------------------------------
    (ADMIN_GROUP, "GET"): row(ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 200),
    # -- files -----------------------------------------------------------------------------------
    ("media", "GET", "task image"): row(401, 200, 200, 200, 200),  # an image of a task the labeler holds
    ("media", "GET", "other image"): row(401, 403, 200, 200, 200),
    ("media", "GET", "checkpoint"): row(401, 403, 403, 200, 200),
    (STATIC, "GET"): everyone(200),
}
