"""Typed errors: one exception class with a stable ``code``, the same strings as
the TypeScript library (countersign/backend) and docs/errors.md."""

ERR_CONFIG_INVALID = "ERR_CONFIG_INVALID"
ERR_CERT_INVALID = "ERR_CERT_INVALID"
ERR_CERT_EXPIRED = "ERR_CERT_EXPIRED"
ERR_CERT_NOT_YET_VALID = "ERR_CERT_NOT_YET_VALID"
ERR_CA_NOT_CA = "ERR_CA_NOT_CA"
ERR_DELEGATION_EXTENSION_MALFORMED = "ERR_DELEGATION_EXTENSION_MALFORMED"
ERR_DELEGATION_EXTENSION_VERSION = "ERR_DELEGATION_EXTENSION_VERSION"
ERR_DELEGATION_UNTRUSTED_ISSUER = "ERR_DELEGATION_UNTRUSTED_ISSUER"
ERR_DELEGATION_MISSING = "ERR_DELEGATION_MISSING"
ERR_NO_PEER_CERTIFICATE = "ERR_NO_PEER_CERTIFICATE"
ERR_PEER_UNAUTHORIZED = "ERR_PEER_UNAUTHORIZED"
ERR_DIRECT_NOT_ALLOWED = "ERR_DIRECT_NOT_ALLOWED"
ERR_POLICY_INVALID = "ERR_POLICY_INVALID"
ERR_POLICY_DENIED = "ERR_POLICY_DENIED"


class CountersignError(Exception):
    """Every error this package raises. ``code`` is stable; ``message`` says what to do."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class DerError(ValueError):
    """Bytes that are not the strict DER expected (internal; surfaced as a CountersignError)."""
