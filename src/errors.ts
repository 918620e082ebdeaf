/**
 * Every error countersign throws is a CountersignError with a stable `code`.
 * The list below is the contract: codes are never renamed, only added.
 */
export const ERROR_CODES = {
  ERR_CONFIG_INVALID: 'the configuration file has a bad key or value; the message names its path',
  ERR_CONFIG_FILE: 'a file the configuration names cannot be read',
  ERR_PEM_INVALID: 'a PEM file holds no block of the expected kind, or bad base64',
  ERR_DER_INVALID: 'DER bytes are truncated or not the ASN.1 structure expected',
  ERR_CERT_INVALID: 'a certificate cannot be parsed',
  ERR_CERT_EXPIRED: 'a certificate is past its notAfter',
  ERR_CERT_NOT_YET_VALID: 'a certificate is before its notBefore',
  ERR_KEY_INVALID: 'a private key cannot be parsed',
  ERR_KEY_MISMATCH: 'a private key does not belong to the certificate it is paired with',
  ERR_KEY_UNSUPPORTED: 'a key type countersign cannot sign with',
  ERR_CA_NOT_CA: 'a certificate used as a CA lacks basicConstraints CA:TRUE',
  ERR_DELEGATION_EXTENSION_MALFORMED: 'the delegation extension is not valid DER of the documented module',
  ERR_DELEGATION_EXTENSION_VERSION: 'the delegation extension has a version this library does not know',
  ERR_DELEGATION_UNTRUSTED_ISSUER: 'a certificate carries the delegation extension but was not issued by a trusted delegation CA',
  ERR_DELEGATION_MISSING: 'a certificate issued by a delegation CA has no delegation extension',
  ERR_NO_PEER_CERTIFICATE: 'the TLS peer presented no certificate',
  ERR_PEER_UNAUTHORIZED: 'the TLS peer certificate did not verify against the server trust store',
  ERR_DIRECT_NOT_ALLOWED: 'a client connected directly but the backend accepts only delegated identities',
  ERR_HEADER_MALFORMED: 'an identity header cannot be decoded',
  ERR_HEADER_UNTRUSTED: 'an identity header came from a peer that is not a trusted proxy',
  ERR_IDENTITY_DENIED: 'the identity is on a deny list',
  ERR_POLICY_INVALID: 'a policy definition is malformed',
  ERR_POLICY_DENIED: "the policy does not allow the request (clients always see 'prohibited by policy'; the reason is logged)",
  ERR_UPSTREAM_UNAVAILABLE: 'no upstream server could be reached',
  ERR_UPSTREAM_CLOSED: 'http mode: the upstream closed the connection or reset the stream before its answer was complete (502, or a broken response once it had begun)',
  ERR_UPSTREAM_TIMEOUT: 'http mode: the upstream sent no answer head within `timeouts.request`, or paused its answer that long (504, or a broken response once it had begun)',
  ERR_UPSTREAM_PROTOCOL: 'http mode: the upstream\'s answer was not valid HTTP (a malformed or oversized head, a protocol switch not asked for) (502)',
  ERR_UPSTREAM_FORGOTTEN: 'http mode: the upstream connections of the identity were closed while a request used them (its client is no longer trusted, or the proxy stops)',
  ERR_CLIENT_CLOSED: 'http mode: the client closed the connection or reset the stream before its answer was complete (logged as status 499, outcome `client-closed`)',
  ERR_CLIENT_STALLED: 'http mode: the client stopped reading an answer for `timeouts.request`; its connection (or stream) was cut (outcome `client-stalled`)',
  ERR_CLIENT_TIMEOUT: 'http mode: the client\'s request body paused longer than `timeouts.request`; it got 408 (when nothing was answered yet) and its connection was closed (outcome `client-timeout`)',
  ERR_LISTEN: 'a listener could not bind its address',
  ERR_ACME: 'the ACME server refused or failed an operation',
  ERR_TLS_CONTEXT: 'Node/OpenSSL refused to build a TLS context from the given certificates, keys or trust options',
  ERR_CRL_INVALID: 'a certificate revocation list cannot be parsed (PEM "X509 CRL" or DER expected)',
  ERR_CERT_NO_NAMES: 'a server certificate has no DNS or IP subjectAltName to select it by',
  ERR_CLIENT_HELLO_MALFORMED: 'the first bytes on a TLS listener are not a TLS ClientHello',
  ERR_CLIENT_HELLO_TOO_LARGE: 'a ClientHello exceeded the size cap before it was complete',
  ERR_CLIENT_HELLO_TIMEOUT: 'the peer sent no complete ClientHello within the timeout',
  ERR_CLIENT_HELLO_TRUNCATED: 'the peer closed the connection before a complete ClientHello',
  ERR_ACME_STORAGE: 'the ACME storage (a directory, or etcd) cannot be read or written, or its order lock was lost',
  ERR_ACME_CHALLENGE: 'the ACME server could not validate a challenge for a domain',
  ERR_IDENTITY_HEADER_OPTIONS: 'an identity-header option (header name, xfcc by) is not a valid HTTP header name or value',
  ERR_IDENTITY_HEADER_VALUE: 'a client certificate\'s name cannot be sent in an identity header (no CN for k8s-front-proxy, a control character, or names no client CA vouched for)',
  ERR_USAGE: 'the command line is wrong',
  ERR_TICKET_KEY: 'the session-ticket key file cannot be read or is not 80 or 48 bytes',
  ERR_UPSTREAM_STARTTLS: 'an upstream did not speak the pre-TLS protocol its `starttls` names (PostgreSQL SSLRequest, a MySQL greeting, a NATS INFO), or does not offer TLS in it',
  ERR_UPSTREAM_ALPN_MISMATCH: 'the upstream server negotiated a different ALPN protocol than the client got at the edge',
  ERR_UPSTREAM_HANDSHAKE: 'the TLS handshake with an upstream server failed; the message names the server, the name checked, the certificate\'s names and issuer, and the key to change',
  ERR_EDGE_PREAMBLE: 'a client sent something other than TLS, or a pre-TLS request the listener is not configured for (`edge.starttls`, `listeners[].starttls`), or did not ask for TLS where the server speaks first (MySQL, NATS)',
  ERR_PROXY_PROTOCOL: 'a PROXY protocol header was missing, malformed, or sent by a source not in `edge.proxyProtocol.trusted`',
  ERR_AUDIT_OPEN: 'the audit log file cannot be opened or read at start',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class CountersignError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CountersignError';
    this.code = code;
  }
}

export function isCountersignError(err: unknown, code?: ErrorCode): err is CountersignError {
  return err instanceof CountersignError && (code === undefined || err.code === code);
}
