"""The Content-Security-Policy header on every response (settings CSP_POLICY, CSP_REPORT_ONLY).

Django 5.2 has no CSP support of its own (it arrives in Django 6.0). The pages are written to
satisfy the strict default: every script and stylesheet is a file under /static/, none inline.
A view that needs another policy sets the header itself; this middleware leaves it alone."""
from __future__ import annotations

from django.conf import settings

CSP_HEADER = "Content-Security-Policy"
CSP_REPORT_ONLY_HEADER = "Content-Security-Policy-Report-Only"


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        policy = settings.CSP_POLICY
        if not policy or CSP_HEADER in response or CSP_REPORT_ONLY_HEADER in response:
            return response
        if settings.DEBUG and response.status_code >= 400 and response.get("Content-Type", "").startswith("text/html"):
            # Django's technical 404/500 pages (DEBUG only) style and script themselves inline.
            return response
        response[CSP_REPORT_ONLY_HEADER if settings.CSP_REPORT_ONLY else CSP_HEADER] = policy
        return response
