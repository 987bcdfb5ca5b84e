"""Sign in with Slack, as Slack's OpenID Connect provider answers it, for the tests and the sandbox.

Slack's endpoints, at the emulator's address instead of slack.com:

- `/.well-known/openid-configuration`: the provider's metadata;
- `/openid/connect/authorize`: where the browser is sent; it comes back to the app's
  `redirect_uri` with a one-time `code` and the app's `state` (or with `error=access_denied`
  when nobody is signed in to the workspace in this browser);
- `/api/openid.connect.token`: the code exchanged, with the app's credentials, for an access
  token and an `id_token` (a JWT signed RS256 with the key published at `jwks_uri`, carrying the
  app's `nonce`, the person's Slack ID and the workspace's);
- `/openid/connect/keys`: the signing key, as a JWK set.

What Slack checks is checked: the client's id and secret, a `redirect_uri` the app registered,
`response_type=code`, the `openid` scope, a code used once, within its ten minutes, with the
same `redirect_uri`. Slack answers API errors with HTTP 200 and `ok: false`, and so does this.
"""

from __future__ import annotations

import base64
import functools
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from joserfc import jwt
from joserfc.jwk import RSAKey

CODE_SECONDS = 600
TOKEN_SECONDS = 3600


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    user: str
    nonce: str | None
    issued: float
    used: bool = False


class OpenIDProvider:
    """The provider's state: registered apps, who is signed in, codes issued."""

    def __init__(self, team: str) -> None:
        self.team = team
        self.base_url = ""  # set by the emulator once it listens
        self.signed_in: str | None = None  # who this browser is signed in to Slack as
        self.clients: dict[str, tuple[str, tuple[str, ...]]] = {}
        self._grants: dict[str, _Grant] = {}
        self._lock = threading.Lock()
        self.tokens_issued = 0

    @property
    def _key(self) -> Any:
        return _signing_key()[0]

    @property
    def _kid(self) -> str:
        return _signing_key()[1]

    def register_client(self, client_id: str, secret: str, redirect_uris: tuple[str, ...]) -> None:
        """An app with Sign in with Slack: its credentials and the redirect URLs it registered."""
        with self._lock:
            self.clients[client_id] = (secret, redirect_uris)

    # ---- the endpoints ----------------------------------------------------------------------
    def configuration(self) -> dict[str, Any]:
        return {
            "issuer": self.base_url,
            "authorization_endpoint": f"{self.base_url}/openid/connect/authorize",
            "token_endpoint": f"{self.base_url}/api/openid.connect.token",
            "userinfo_endpoint": f"{self.base_url}/api/openid.connect.userInfo",
            "jwks_uri": f"{self.base_url}/openid/connect/keys",
            "scopes_supported": ["openid", "profile", "email"],
            "response_types_supported": ["code"],
            "response_modes_supported": ["form_post"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "claims_supported": ["sub", "auth_time", "iss"],
            "claims_parameter_supported": False,
            "request_parameter_supported": False,
            "request_uri_parameter_supported": True,
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        }

    def keys(self) -> dict[str, Any]:
        public = self._key.as_dict(private=False)
        return {"keys": [{**public, "kid": self._kid, "use": "sig", "alg": "RS256"}]}

    def authorize(self, args: dict[str, Any]) -> tuple[int, str | None, str]:
        """The browser's visit: (status, where to redirect it, what to show otherwise)."""
        client = self.clients.get(str(args.get("client_id") or ""))
        redirect_uri = str(args.get("redirect_uri") or "")
        if client is None:
            return 400, None, "invalid_client_id"
        if redirect_uri not in client[1]:
            return 400, None, "bad_redirect_uri"
        state = args.get("state")
        back: dict[str, str] = {"state": str(state)} if state is not None else {}
        if args.get("response_type") != "code" or "openid" not in str(args.get("scope") or "").split():
            return 302, _with(redirect_uri, {"error": "invalid_scope", **back}), ""
        if self.signed_in is None:
            return 302, _with(redirect_uri, {"error": "access_denied", **back}), ""
        code = secrets.token_urlsafe(24)
        nonce = args.get("nonce")
        with self._lock:
            self._grants[code] = _Grant(
                str(args["client_id"]), redirect_uri, self.signed_in, None if nonce is None else str(nonce),
                time.time(),
            )  # fmt: skip
        return 302, _with(redirect_uri, {"code": code, **back}), ""

    def token(self, args: dict[str, Any], authorization: str | None) -> dict[str, Any]:
        """The code exchanged for tokens (openid.connect.token)."""
        client_id, secret = _credentials(args, authorization)
        known = self.clients.get(client_id)
        if known is None:
            return {"ok": False, "error": "invalid_client_id"}
        if not secrets.compare_digest(known[0], secret):
            return {"ok": False, "error": "bad_client_secret"}
        if args.get("grant_type", "authorization_code") != "authorization_code":
            return {"ok": False, "error": "invalid_grant_type"}
        with self._lock:
            grant = self._grants.get(str(args.get("code") or ""))
            if grant is None or grant.used or time.time() - grant.issued > CODE_SECONDS:
                return {"ok": False, "error": "invalid_code"}
            if grant.client_id != client_id or grant.redirect_uri != args.get("redirect_uri"):
                return {"ok": False, "error": "bad_redirect_uri"}
            grant.used = True
            self.tokens_issued += 1
        now = int(time.time())
        claims = {
            "iss": self.base_url,
            "sub": grant.user,
            "aud": client_id,
            "exp": now + TOKEN_SECONDS,
            "iat": now,
            "auth_time": now,
            "https://slack.com/user_id": grant.user,
            "https://slack.com/team_id": self.team,
        }
        if grant.nonce is not None:
            claims["nonce"] = grant.nonce
        id_token = jwt.encode({"alg": "RS256", "kid": self._kid}, claims, self._key)
        return {
            "ok": True,
            "access_token": f"xoxp-openid-{secrets.token_hex(8)}",
            "token_type": "Bearer",
            "expires_in": TOKEN_SECONDS,
            "id_token": id_token,
        }


@functools.cache
def _signing_key() -> tuple[Any, str]:
    """One RSA key a process, made when first needed: making one takes a moment, and every test
    has an emulator of its own."""
    return RSAKey.generate_key(2048), secrets.token_hex(8)


def _with(url: str, params: dict[str, str]) -> str:
    return f"{url}{'&' if '?' in url else '?'}{urlencode(params)}"


def _credentials(args: dict[str, Any], authorization: str | None) -> tuple[str, str]:
    """The client's id and secret, from the form (client_secret_post) or HTTP Basic."""
    if authorization and authorization.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(authorization[6:]).decode()
        except ValueError:
            return "", ""
        client_id, _, secret = decoded.partition(":")
        return client_id, secret
    return str(args.get("client_id") or ""), str(args.get("client_secret") or "")
