"""JSON errors for every API failure: ``{"error": {"code", "message", "fields"?}}``.

Two ways in: DRF calls ``json_exception_handler`` for exceptions raised inside an API view, and
Django's error handlers (config/errors.py) call ``error_response`` for what happens outside one (a URL
that matches no route, an unexpected exception, a refused Host header)."""
from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import JsonResponse
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler

REQUEST_TOO_LARGE = "The request body is larger than the {limit} bytes this server accepts."
REQUEST_REFUSED = "The request was refused as malformed or unsafe."
NOT_FOUND = "No API endpoint matches this URL."
PERMISSION_DENIED = "You do not have permission to perform this action."
SERVER_ERROR = "The server hit an unexpected error. It has been logged; try again later or report it."
CSRF_FAILED = "CSRF verification failed: {reason}"


def error_body(*, code: str, message: str, fields: dict | None = None) -> dict:
    body = {"code": code, "message": message}
    if fields is not None:
        body["fields"] = fields
    return {"error": body}


def error_response(*, status_code: int, code: str, message: str, fields: dict | None = None) -> JsonResponse:
    """The error format as a plain Django response, for errors that happen outside a DRF view."""
    return JsonResponse(error_body(code=code, message=message, fields=fields), status=status_code)


def _suspicious_operation_response(exc: SuspiciousOperation, context) -> Response:
    # Django logs a SuspiciousOperation to django.security.<class> when it reaches the handler
    # itself; answering it here skips that, so log it the same way to keep the security trail.
    request = context.get("request")
    logging.getLogger(f"django.security.{exc.__class__.__name__}").error(
        str(exc), extra={"status_code": status.HTTP_400_BAD_REQUEST, "request": getattr(request, "_request", request)})
    if isinstance(exc, RequestDataTooBig):
        return Response(error_body(code="request_too_large",
                                   message=REQUEST_TOO_LARGE.format(limit=settings.DATA_UPLOAD_MAX_MEMORY_SIZE)),
                        status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    # The exception's own text can name server settings (allowed hosts, limits): keep it in the log.
    return Response(error_body(code="bad_request", message=REQUEST_REFUSED), status=status.HTTP_400_BAD_REQUEST)


def json_exception_handler(exc, context):
    if isinstance(exc, SuspiciousOperation):
        # Reading request.data past DATA_UPLOAD_MAX_MEMORY_SIZE raises RequestDataTooBig; DRF's
        # handler ignores it and Django would answer with its HTML 400 page.
        return _suspicious_operation_response(exc, context)
    response = exception_handler(exc, context)
    if response is None:
        # An unexpected exception: Django logs it and calls handler500 (config/errors.py).
        return None
    detail = response.data
    code = getattr(exc, "default_code", "error")
    if isinstance(detail, dict) and "detail" in detail and len(detail) == 1:
        body = {"code": getattr(detail["detail"], "code", code), "message": str(detail["detail"])}
    elif isinstance(detail, dict):
        body = {"code": "invalid", "message": "The request is invalid; see fields.", "fields": detail}
    elif isinstance(detail, list):
        body = {"code": "invalid", "message": "; ".join(str(d) for d in detail)}
    else:
        body = {"code": code, "message": str(detail)}
    response.data = {"error": body}
    return response
