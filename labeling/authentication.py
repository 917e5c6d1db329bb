"""DRF authentication by API token, in the header format DRF's TokenAuthentication used
(``Authorization: Token <key>``), so existing clients keep working; the rules (hashed keys,
expiry, revocation, credentials fingerprint) are in labeling/services/tokens.py."""
from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from labeling.services.tokens import ApiTokenRefused, api_token_authenticate

TOKEN_HEADER_MALFORMED = "The Authorization header must be 'Token <key>': one key, with no spaces in it."


class ApiTokenAuthentication(BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None  # not ours: let the next authenticator (the session) try
        if len(parts) != 2:
            raise AuthenticationFailed(TOKEN_HEADER_MALFORMED, code="token_header_malformed")
        try:
            key = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise AuthenticationFailed(TOKEN_HEADER_MALFORMED, code="token_header_malformed") from None
        try:
            token = api_token_authenticate(key=key)
        except ApiTokenRefused as refusal:
            raise AuthenticationFailed(str(refusal), code=refusal.code) from refusal
        return token.user, token

    def authenticate_header(self, request) -> str:
        # Makes DRF answer 401 (with WWW-Authenticate: Token) rather than 403 to a missing login.
        return self.keyword


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """The OpenAPI security scheme, under the name drf-spectacular gave DRF's TokenAuthentication."""

    target_class = "labeling.authentication.ApiTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object(header_name="Authorization", token_prefix=ApiTokenAuthentication.keyword)
