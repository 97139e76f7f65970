"""A small OpenID Connect provider on loopback, speaking the parts of the protocol the desk uses
(OpenID Connect Discovery 1.0, the authorization code flow of Core 1.0, RS256 ID tokens, a
JWKS), so single sign-on is tested against real HTTP, real signatures and Authlib's checks.

`provider.person = {...claims...}` says who "signs in" at the next authorization; the
authorize endpoint answers at once with a redirect back (no login form), as a provider does
for someone already signed in there. `provider.tamper` can make it misbehave.
"""
import secrets
import threading
import time
from urllib.parse import urlencode

from joserfc import jwt
from joserfc.jwk import RSAKey
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

KEY = RSAKey.generate_key(2048, parameters={"kid": "test-key", "use": "sig", "alg": "RS256"})


class FakeOidcProvider:
    def __init__(self, client_id: str, client_secret: str):
        self.client_id, self.client_secret = client_id, client_secret
        self.person: dict = {}
        self.tamper: set[str] = set()  # "nonce", "audience", "signature", "expired", "issuer"
        self.codes: dict[str, dict] = {}
        self.token_requests: list[dict] = []
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.issuer = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self):
        self._server.shutdown()

    @Request.application
    def _app(self, request: Request) -> Response:
        routes = {"/.well-known/openid-configuration": self._discovery, "/authorize": self._authorize,
                  "/token": self._token, "/jwks": self._jwks}
        handler = routes.get(request.path)
        return handler(request) if handler else Response("not found", 404)

    def _discovery(self, request):
        return _json({
            "issuer": self.issuer, "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token", "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"], "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"]})

    def _authorize(self, request):
        args = request.args
        if args.get("client_id") != self.client_id or args.get("response_type") != "code":
            return Response("bad authorization request", 400)
        code = secrets.token_urlsafe(16)
        self.codes[code] = {"nonce": args.get("nonce"), "redirect_uri": args["redirect_uri"],
                            "person": dict(self.person)}
        query = urlencode({"code": code, "state": args.get("state", "")})
        return Response(status=302, headers={"Location": f"{args['redirect_uri']}?{query}"})

    def _token(self, request):
        form = request.form
        self.token_requests.append(dict(form))
        auth = request.authorization
        client = (auth.username, auth.password) if auth else (form.get("client_id"),
                                                               form.get("client_secret"))
        grant = self.codes.pop(form.get("code", ""), None)
        if client != (self.client_id, self.client_secret):
            return _json({"error": "invalid_client"}, 401)
        if grant is None or form.get("redirect_uri") != grant["redirect_uri"]:
            return _json({"error": "invalid_grant"}, 400)
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": self.client_id, "iat": now, "exp": now + 300,
                  "nonce": grant["nonce"], **grant["person"]}
        if "nonce" in self.tamper:
            claims["nonce"] = "not-the-one-sent"
        if "audience" in self.tamper:
            claims["aud"] = "another-client"
        if "expired" in self.tamper:
            claims["iat"], claims["exp"] = now - 3600, now - 1800
        if "issuer" in self.tamper:
            claims["iss"] = "https://evil.example"
        key = RSAKey.generate_key(2048, parameters={"kid": "test-key"}) \
            if "signature" in self.tamper else KEY
        id_token = jwt.encode({"alg": "RS256", "kid": "test-key"}, claims, key)
        return _json({"access_token": secrets.token_urlsafe(16), "token_type": "Bearer",
                      "expires_in": 300, "id_token": id_token})

    def _jwks(self, request):
        return _json({"keys": [KEY.as_dict(private=False)]})


def _json(body: dict, status: int = 200) -> Response:
    import json
    return Response(json.dumps(body), status, mimetype="application/json")
