"""Framework-neutral request guard (for WSGI, ASGI, http.server alike): give it
the connection's TLS object, the method and the decoded path; it answers what
the TypeScript middleware answers — 401 {"code","message"} when no identity can
be established, 403 {"code":"ERR_POLICY_DENIED","message":"prohibited by policy"}
whatever the policy's reason (the reason goes to ``on_refused``).

WSGI servers differ in how they expose the TLS socket; with gunicorn it is
``environ["gunicorn.socket"]``, with http.server ``handler.connection``, with
uvicorn/ASGI ``scope["extensions"]["tls"]`` is not standard — identify the
connection where your server gives you the SSLSocket, then call ``check``.
"""
from __future__ import annotations

import ssl
import urllib.parse
import weakref
from dataclasses import dataclass
from typing import Callable

from .errors import ERR_POLICY_DENIED, CountersignError
from .identifier import Identifier, ResolvedIdentity
from .policy import CLIENT_DENIAL_MESSAGE, PolicyEngine


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status: int  # 200 when ok, else 401 or 403
    body: dict | None  # the JSON error body when refused
    identity: ResolvedIdentity | None = None
    policy: str | None = None
    reason: str | None = None  # why refused (for the log, not for the client)


def policy_path(raw_target: str) -> str | None:
    """The path a policy sees: no query, percent-decoded; None when the escape is invalid."""
    path = raw_target.split("?", 1)[0]
    try:
        return urllib.parse.unquote(path, errors="strict")
    except UnicodeDecodeError:
        return None


class Guard:
    def __init__(self, identifier: Identifier, policy: PolicyEngine | None = None,
                 on_refused: Callable[[Outcome, str, str], None] | None = None):
        self._identifier = identifier
        self._policy = policy
        self._on_refused = on_refused
        # one identification per connection: its peer certificate cannot change
        self._cache: "weakref.WeakKeyDictionary[object, tuple]" = weakref.WeakKeyDictionary()

    def _identify(self, sock: ssl.SSLSocket):
        try:
            cached = self._cache.get(sock)
        except TypeError:
            cached = None
        if cached is None:
            try:
                cached = (self._identifier.identify(sock), None)
            except CountersignError as e:
                cached = (None, e)
            try:
                self._cache[sock] = cached
            except TypeError:
                pass
        return cached

    def check(self, sock: ssl.SSLSocket, method: str, raw_target: str) -> Outcome:
        identity, err = self._identify(sock)
        path = policy_path(raw_target)
        if err is not None:
            return self._refuse(Outcome(False, 401, {"code": err.code, "message": err.message}, reason=err.message), method, raw_target)
        if self._policy is None:
            return Outcome(True, 200, None, identity)
        denied = {"code": ERR_POLICY_DENIED, "message": CLIENT_DENIAL_MESSAGE}
        if path is None:
            return self._refuse(Outcome(False, 403, denied, identity, reason="request path is not valid percent-encoding"), method, raw_target)
        d = self._policy.authorize(identity.identity, method, path)
        if not d.allowed:
            return self._refuse(Outcome(False, 403, denied, identity, d.policy, d.reason), method, path)
        return Outcome(True, 200, None, identity, d.policy)

    def _refuse(self, o: Outcome, method: str, path: str) -> Outcome:
        if self._on_refused:
            self._on_refused(o, method, path)
        return o
