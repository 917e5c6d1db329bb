"""Django's error handlers (handler400/403/404/500 and the CSRF failure view): JSON in the API's one
error format for paths under /api/, the site's HTML error pages everywhere else.

DRF answers the errors raised inside an API view itself (labeling/api_errors.py). These handlers
cover the rest: a URL that matches no route, an exception no handler knew (Django has logged it to
``django.request`` with its traceback before calling handler500), a Host header outside
ALLOWED_HOSTS, a CSRF refusal. With DEBUG on, Django shows its technical 404/500 pages instead."""
from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template import loader
from django.views import defaults

from labeling import api_errors

API_PATH_PREFIX = "/api/"


def is_api_request(request: HttpRequest) -> bool:
    return request.path_info.startswith(API_PATH_PREFIX)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_request(request):
        return api_errors.error_response(status_code=400, code="bad_request", message=api_errors.REQUEST_REFUSED)
    return defaults.bad_request(request, exception, template_name="400.html")


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_request(request):
        return api_errors.error_response(status_code=403, code="permission_denied",
                                         message=str(exception) or api_errors.PERMISSION_DENIED)
    return defaults.permission_denied(request, exception, template_name="403.html")


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_request(request):
        # A constant message: a Resolver404 carries the URL patterns tried, which is no one's business.
        return api_errors.error_response(status_code=404, code="not_found", message=api_errors.NOT_FOUND)
    return defaults.page_not_found(request, exception, template_name="404.html")


def server_error(request: HttpRequest) -> HttpResponse:
    if is_api_request(request):
        return api_errors.error_response(status_code=500, code="server_error", message=api_errors.SERVER_ERROR)
    # Rendered without the request's context processors, as Django's own server_error is: whatever
    # failed (the database, a context processor) must not fail the error page too.
    return HttpResponse(loader.get_template("500.html").render(), status=500)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    if is_api_request(request):
        return api_errors.error_response(status_code=403, code="csrf_failed",
                                         message=api_errors.CSRF_FAILED.format(reason=reason))
    # Not Django's own page: it carries an inline stylesheet that the Content-Security-Policy blocks.
    return render(request, "403_csrf.html", {"reason": reason}, status=403)
