"""A KES-style policy engine over Go's path.Match syntax (not fnmatch's: ``*``
and ``?`` stop at ``/``, ``[^a-z]`` negates, ``\\`` escapes). Deny wins; an
empty policy allows nothing; an identity has at most one policy. Malformed
patterns are refused when the engine is built."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

from .errors import ERR_POLICY_INVALID, CountersignError

CLIENT_DENIAL_MESSAGE = "prohibited by policy"
REASON_PROHIBITED, REASON_UNKNOWN, REASON_DISABLED = "prohibited by policy", "unknown identity", "identity disabled"
_IDENTITY = re.compile(r"^[0-9a-f]{64}$")
_METHOD = re.compile(r"^([A-Z]+) +(\S.*)$", re.S)


def _bad(pattern: str, why: str) -> CountersignError:
    return CountersignError(ERR_POLICY_INVALID, f'pattern "{pattern}": {why} (syntax of Go\'s path.Match: * ? [a-z] [^a-z] \\c)')


def compile_path_pattern(pattern: str) -> Callable[[str], bool]:
    """Compiles a Go path.Match pattern; raises ERR_POLICY_INVALID where Go returns ErrBadPattern."""
    out, i, n = [], 0, len(pattern)

    def class_char() -> str:
        nonlocal i
        if i >= n:
            raise _bad(pattern, "unterminated character class")
        c = pattern[i]
        if c in "-]":
            raise _bad(pattern, f'"{c}" must be escaped inside a character class')
        if c == "\\":
            i += 1
            if i >= n:
                raise _bad(pattern, "trailing backslash")
            c = pattern[i]
        i += 1
        return c

    while i < n:
        c = pattern[i]
        if c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "\\":
            if i + 1 >= n:
                raise _bad(pattern, "trailing backslash")
            out.append(re.escape(pattern[i + 1]))
            i += 2
        elif c == "[":
            i += 1
            negated = i < n and pattern[i] == "^"
            if negated:
                i += 1
            body, ranges = [], 0
            while True:
                if i < n and pattern[i] == "]" and ranges > 0:
                    i += 1
                    break
                lo = class_char()
                hi = lo
                if i < n and pattern[i] == "-":
                    i += 1
                    hi = class_char()
                ranges += 1
                if lo <= hi:  # lo > hi matches nothing in Go
                    body.append(re.escape(lo) if lo == hi else f"{re.escape(lo)}-{re.escape(hi)}")
            cls = "".join(body)
            # an empty class matches nothing; an empty negated class matches any one character
            out.append(("[^" + cls + "]" if cls else "[\\s\\S]") if negated else ("[" + cls + "]" if cls else "(?!)"))
        else:
            out.append(re.escape(c))
            i += 1
    rx = re.compile("(?:" + "".join(out) + r")\Z", re.S)
    return lambda path: rx.match(path) is not None


def path_match(pattern: str, path: str) -> bool:
    return compile_path_pattern(pattern)(path)


def normalize_identity(identity: str, where: str) -> str:
    i = identity.strip().lower() if isinstance(identity, str) else ""
    if not _IDENTITY.match(i):
        raise CountersignError(ERR_POLICY_INVALID, f'{where}: "{identity}" is not an identity (64 hex digits: the SHA-256 of the certificate\'s public key, as `countersign identity of` prints)')
    return i


@dataclass(frozen=True)
class Decision:
    allowed: bool
    policy: str | None = None
    reason: str | None = None  # when refused: for the log; the client sees CLIENT_DENIAL_MESSAGE


class _Rule:
    def __init__(self, policy: str, lst: str, pattern: str):
        if not isinstance(pattern, str) or not pattern:
            raise CountersignError(ERR_POLICY_INVALID, f'policy "{policy}".{lst}: every pattern must be a non-empty string')
        m = _METHOD.match(pattern)
        self.method, path = (m.group(1), m.group(2)) if m else (None, pattern)
        if not path.startswith("/"):
            raise CountersignError(ERR_POLICY_INVALID, f'policy "{policy}".{lst}: pattern "{pattern}" must start with "/" (optionally after a method, e.g. "GET /v1/status")')
        try:
            self.match = compile_path_pattern(path)
        except CountersignError as e:
            raise CountersignError(ERR_POLICY_INVALID, f'policy "{policy}".{lst}: {e.message}') from e


class PolicyEngine:
    """policies: {name: {"allow": [...], "deny": [...], "identities": [...]}}; disabled: identities never allowed."""

    def __init__(self, policies: Mapping[str, Mapping[str, Iterable[str]]], disabled: Iterable[str] = ()):
        if not isinstance(policies, Mapping):
            raise CountersignError(ERR_POLICY_INVALID, 'policies: expected a mapping of named policies, e.g. {"my-app": {"allow": ["/v1/key/generate/my-app-*"]}}')
        self._disabled = {normalize_identity(d, f"disabled[{i}]") for i, d in enumerate(disabled)}
        self._policies: dict[str, tuple[list[_Rule], list[_Rule]]] = {}
        self._assignments: dict[str, str] = {}
        for name, d in policies.items():
            unknown = [k for k in d if k not in ("allow", "deny", "identities")]
            if unknown:
                raise CountersignError(ERR_POLICY_INVALID, f'policy "{name}": unknown key "{unknown[0]}" (allowed: allow, deny, identities)')
            self._policies[name] = ([_Rule(name, "allow", p) for p in d.get("allow", ())], [_Rule(name, "deny", p) for p in d.get("deny", ())])
        for name, d in policies.items():
            for identity in d.get("identities", ()):
                self.assign(identity, name)

    def assign(self, identity: str, policy: str) -> None:
        i = normalize_identity(identity, f'policy "{policy}" identity')
        if policy not in self._policies:
            raise CountersignError(ERR_POLICY_INVALID, f'cannot assign {i} to policy "{policy}": no such policy')
        if i in self._disabled:
            raise CountersignError(ERR_POLICY_INVALID, f'cannot assign {i} to policy "{policy}": the identity is disabled')
        if i in self._assignments:
            raise CountersignError(ERR_POLICY_INVALID, f'identity {i} is already assigned to policy "{self._assignments[i]}"; an identity has at most one policy — remove it from one of them')
        self._assignments[i] = policy

    def policy_of(self, identity: str) -> str | None:
        return self._assignments.get(identity.lower())

    def authorize(self, identity: str, method: str, path: str) -> Decision:
        """path: the URL path without the query string, percent-decoded."""
        i = identity.lower()
        if i in self._disabled:
            return Decision(False, reason=REASON_DISABLED)
        name = self._assignments.get(i)
        if name is None:
            return Decision(False, reason=REASON_UNKNOWN)
        allow, deny = self._policies[name]
        m = method.upper()
        hit = lambda rules: any((r.method is None or r.method == m) and r.match(path) for r in rules)  # noqa: E731
        if hit(deny) or not hit(allow):
            return Decision(False, policy=name, reason=REASON_PROHIBITED)
        return Decision(True, policy=name)
