"""JSON errors for every API failure: ``{"error": {"code", "message", "fields"?}}``."""
from rest_framework.views import exception_handler


def json_exception_handler(exc, context):
    response = exception_handler(exc, context)
    if response is None:
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
