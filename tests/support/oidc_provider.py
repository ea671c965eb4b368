"""OpenID providers on 127.0.0.1 for the sign-in protocol tests.

`MockProvider` runs oidc-provider-mock (a real OpenID provider built on Authlib and Flask)
in a background thread. `add_user` registers a subject with its claims (its `PUT
/users/{sub}`); `authorize` submits the provider's sign-in form for a subject, as a person in
a browser would, and returns the query of the redirect back to the client (code and state,
or error). Its issuer is taken from the Host header of each request: always use `issuer`
(127.0.0.1, never `localhost`) or the id_token names another issuer than discovery did.

`ScriptedProvider` is a small provider of our own (discovery, JWKS, token endpoint; stdlib
HTTP server) whose token endpoint answers with whatever id_token the test composed and
signed with joserfc: the tokens a well-behaved provider never issues (another audience or
issuer, expired, forged). It records each token request, so a test can see what the client
sent (the PKCE verifier, its credentials).

Both start on a free port and stop when the `with` block ends. A start that cannot happen
raises `ProviderUnavailable`; fixtures turn that into `missing(reason)`.
"""

from __future__ import annotations

import json
import threading
import time
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import httpx
from joserfc import jwt
from joserfc.jwk import RSAKey


class ProviderUnavailable(Exception):
    """The provider could not be started here; the message says why."""


def callback_params(location: str) -> dict[str, str]:
    """The query of a redirect back to the client, as the callback page would receive it."""
    return dict(parse_qsl(urlsplit(location).query, keep_blank_values=True))


class MockProvider:
    """`with MockProvider() as provider:` — provider.issuer, add_user, authorize, deny."""

    def __init__(self) -> None:
        self.issuer = ""
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> MockProvider:
        try:
            with warnings.catch_warnings():
                # It imports Authlib modules that Authlib deprecates (authlib.jose, its
                # httpx client); the product does not use them.
                warnings.simplefilter("ignore", DeprecationWarning)
                import oidc_provider_mock
                import werkzeug.serving
        except ImportError as error:
            raise ProviderUnavailable(
                f"oidc-provider-mock is not installed ({error}); pip install -e '.[dev]'"
            ) from error

        class QuietHandler(werkzeug.serving.WSGIRequestHandler):
            # Werkzeug logs every request line, query included: state, nonce, codes.
            def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
                pass

        # require_nonce: the provider refuses an authorization request without a nonce.
        app = oidc_provider_mock.app(require_nonce=True)
        try:
            self._server = werkzeug.serving.make_server(
                "127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler
            )
        except OSError as error:
            raise ProviderUnavailable(
                f"oidc-provider-mock cannot listen on 127.0.0.1: {error}"
            ) from error
        self.issuer = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 10
        while True:
            try:
                response = httpx.get(f"{self.issuer}/.well-known/openid-configuration")
                if response.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise ProviderUnavailable("oidc-provider-mock did not answer on 127.0.0.1")
            time.sleep(0.05)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> MockProvider:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    async def add_user(self, subject: str, **claims: object) -> None:
        """The subject signs in with these claims (email, email_verified, name, …)."""
        async with httpx.AsyncClient() as http:
            response = await http.put(f"{self.issuer}/users/{quote(subject, safe='')}", json=claims)
        assert response.status_code == 204, response.text

    async def authorize(self, authorization_url: str, subject: str) -> dict[str, str]:
        """Sign in as `subject` on the provider's form; the redirect's query comes back."""
        return await self._submit(authorization_url, {"sub": subject})

    async def deny(self, authorization_url: str) -> dict[str, str]:
        """Press "Deny" on the provider's form; the redirect's query comes back."""
        return await self._submit(authorization_url, {"action": "deny"})

    async def _submit(self, authorization_url: str, form: dict[str, str]) -> dict[str, str]:
        async with httpx.AsyncClient() as http:
            page = await http.get(authorization_url)
            assert page.status_code == 200, page.text  # the form: the request was accepted
            response = await http.post(authorization_url, data=form)
        assert response.status_code == 302, response.text
        return callback_params(response.headers["location"])


class ScriptedProvider:
    """A provider whose token endpoint answers with `id_token` (set it before `complete`).

    `key` is the published signing key (in its JWKS); `sign(claims)` signs with it, or with
    another key given as `key=`. `claims(...)` gives a valid set to start from.
    """

    def __init__(self, *, document_issuer: str | None = None) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "scripted-1", "use": "sig"})
        self.id_token = ""
        self.token_requests: list[dict[str, str]] = []
        self._document_issuer = document_issuer
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.issuer = ""

    def __enter__(self) -> ScriptedProvider:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _scripted_handler(self))
        self.issuer = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def document(self) -> dict[str, Any]:
        return {
            "issuer": self._document_issuer or self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            "code_challenge_methods_supported": ["S256"],
        }

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.key.as_dict(private=False)]}

    def claims(self, *, client_id: str, nonce: str, **changes: object) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": "scripted-subject",
            "aud": client_id,
            "iat": now,
            "exp": now + 300,
            "nonce": nonce,
            "email": "anna@example.org",
            "email_verified": True,
            "name": "Anna de Vries",
        }
        claims.update(changes)
        return claims

    def sign(
        self, claims: dict[str, Any], *, key: Any = None, header: dict[str, Any] | None = None
    ) -> str:
        signing_key = key if key is not None else self.key
        full_header = {"alg": "RS256", "kid": "scripted-1", **(header or {})}
        return jwt.encode(full_header, claims, signing_key, algorithms=[full_header["alg"]])


def _scripted_handler(provider: ScriptedProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/.well-known/openid-configuration":
                self._json(200, provider.document())
            elif self.path == "/jwks":
                self._json(200, provider.jwks())
            else:
                self._json(404, {"error": "not_found"})

        def do_POST(self) -> None:
            if self.path != "/token":
                self._json(404, {"error": "not_found"})
                return
            length = int(self.headers.get("Content-Length", "0"))
            form = dict(parse_qsl(self.rfile.read(length).decode()))
            form["authorization"] = self.headers.get("Authorization", "")
            provider.token_requests.append(form)
            self._json(
                200,
                {
                    "access_token": "scripted-access-token",
                    "token_type": "Bearer",
                    "expires_in": 300,
                    "id_token": provider.id_token,
                },
            )

        def _json(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass  # request lines carry codes; the tests' output stays free of them

    return Handler
