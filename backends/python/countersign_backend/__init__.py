"""countersign backend library for Python (stdlib only): recover the real client
behind a countersign proxy from the minted certificate, and decide what it may do."""
from .errors import CountersignError
from .extension import DEFAULT_EXTENSION_OID, Delegation, decode_extension
from .guard import Guard, Outcome, policy_path
from .identifier import Identifier, ResolvedIdentity, Voucher
from .names import format_name
from .policy import CLIENT_DENIAL_MESSAGE, Decision, PolicyEngine, compile_path_pattern, path_match

__all__ = [
    "CountersignError", "DEFAULT_EXTENSION_OID", "Delegation", "decode_extension", "Guard", "Outcome", "policy_path",
    "Identifier", "ResolvedIdentity", "Voucher", "format_name", "CLIENT_DENIAL_MESSAGE", "Decision", "PolicyEngine",
    "compile_path_pattern", "path_match",
]
