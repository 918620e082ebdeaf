/**
 * Upstream handshake failures that say what to fix (nginx's "upstream SSL
 * certificate does not match" while the name it checked was not the one the
 * operator thought). A failed handshake becomes an `ERR_UPSTREAM_HANDSHAKE`
 * error whose message and `diagnosis` name the server, the name checked, the
 * names the server's certificate really carries, its issuer, and the config
 * key to change.
 *
 * The upstream connection verifies the server with `rejectUnauthorized: false`
 * and checks `authorized` itself on `secureConnect` (before anything is
 * written), so the peer certificate of a failed verification can still be read;
 * Node's own check does exactly this after the handshake, so trust is the same.
 * TLS alerts the server sends (its refusal of our client certificate arrives
 * after the handshake in TLS 1.3) are recognized by their OpenSSL codes.
 */
import { X509Certificate } from 'node:crypto';
import type { DetailedPeerCertificate } from 'node:tls';
import { CountersignError } from '../errors.js';

export type HandshakeFailureKind =
  | 'name-mismatch' | 'unknown-issuer' | 'expired' | 'not-yet-valid'
  | 'client-certificate-refused' | 'protocol' | 'alpn';

/** The client certificate countersign presents to an upstream, for the diagnosis. */
export interface PresentedIdentity {
  /** `delegated`: a minted certificate; `proxyCert`: the route's own certificate; `none`: anonymous */
  what: 'delegated' | 'proxyCert' | 'none';
  /** the config key of what is presented (`delegation.ca`, `routes[0].proxyCert`) */
  configKey?: string;
  /** subject of the CA that issued it (the delegation CA, the proxyCert's issuer) */
  issuer?: string;
}

export interface HandshakeContext {
  upstream: string;
  server: string;
  /** the name checked in the server's certificate (servername, else the host/IP) */
  checked: string;
  minVersion?: string;
  /** ALPN protocols offered */
  alpn?: string[];
  presenting?: PresentedIdentity;
}

export interface HandshakeDiagnosis {
  kind: HandshakeFailureKind;
  upstream: string;
  server: string;
  servername: string;
  /** the names the server's certificate carries: subjectAltNames, then the CN */
  certNames?: string[];
  certSubject?: string;
  certIssuer?: string;
  certNotAfter?: string;
  /** OpenSSL's / Node's code for the failure */
  tlsCode: string;
  /** the config key (or thing) to change */
  fix: string;
  /** one sentence: what is wrong and what to do */
  message: string;
}

export class UpstreamHandshakeError extends CountersignError {
  constructor(readonly diagnosis: HandshakeDiagnosis, options?: { cause?: unknown }) {
    super('ERR_UPSTREAM_HANDSHAKE', diagnosis.message, options);
  }
}

/** The diagnosis carried by an error or one of its causes (an upstream socket error is tagged with one). */
export function findDiagnosis(err: unknown): HandshakeDiagnosis | undefined {
  for (let e = err as { diagnosis?: HandshakeDiagnosis; cause?: unknown } | undefined, n = 0; e && n < 5; e = e.cause as typeof e, n++) {
    if (e.diagnosis) return e.diagnosis;
  }
  return undefined;
}

/** The stable log fields of a diagnosis (its message goes in `reason`). */
export function diagnosisFields(d: HandshakeDiagnosis): Record<string, unknown> {
  return {
    failure: d.kind, servername: d.servername || undefined, certNames: d.certNames, certIssuer: d.certIssuer,
    certNotAfter: d.certNotAfter, tlsCode: d.tlsCode, fix: d.fix,
  };
}

const UNKNOWN_ISSUER = new Set([
  'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_UNTRUSTED', 'CERT_SIGNATURE_FAILURE',
  'CERT_CHAIN_TOO_LONG', 'INVALID_CA', 'CERT_REJECTED',
]);
/** alerts by which a server says it does not accept the client certificate */
const CLIENT_CERT_ALERTS = /ALERT_(UNKNOWN_CA|BAD_CERTIFICATE|CERTIFICATE_UNKNOWN|CERTIFICATE_REQUIRED|ACCESS_DENIED|UNSUPPORTED_CERTIFICATE|CERTIFICATE_EXPIRED|CERTIFICATE_REVOKED|HANDSHAKE_FAILURE_CLIENT_CERT)/;
const PROTOCOL_VERSION = /ALERT_PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL|NO_PROTOCOLS_AVAILABLE|VERSION_TOO_LOW|VERSION_TOO_HIGH|TLSV1_ALERT_INAPPROPRIATE_FALLBACK/;
const NOT_TLS = /WRONG_VERSION_NUMBER|PACKET_LENGTH_TOO_LONG|HTTP_REQUEST|RECORD_LAYER_FAILURE|UNEXPECTED_EOF|ERR_SSL_BAD_RECORD|UNKNOWN_PROTOCOL/;

export interface PeerSummary { names: string[]; subject?: string; issuer?: string; notAfter?: string }

/** The names, subject, issuer and end of validity of the server's certificate. */
export function summarizePeer(peer: DetailedPeerCertificate | undefined): PeerSummary {
  if (!peer || !peer.raw) return { names: [] };
  const names = (peer.subjectaltname ? peer.subjectaltname.split(', ') : []).map((n) => n.replace(/^IP Address:/, 'IP:'));
  let subject: string | undefined;
  let issuer: string | undefined;
  let notAfter: string | undefined;
  try {
    const x = new X509Certificate(peer.raw);
    subject = x.subject.split('\n').join(', ');
    issuer = x.issuer.split('\n').join(', ');
    notAfter = new Date(x.validTo).toISOString();
  } catch { /* a certificate Node handed us parses; keep what we have if not */ }
  const cn = typeof peer.subject?.CN === 'string' ? peer.subject.CN : undefined;
  if (cn) names.push(`CN=${cn}`);
  return { names, subject, issuer, notAfter };
}

const list = (names: string[]) => (names.length ? names.join(', ') : 'no names');

function presented(p: PresentedIdentity | undefined): { what: string; fix: string; todo: string } {
  switch (p?.what) {
    case 'delegated': return {
      what: `a certificate minted by the delegation CA${p.issuer ? ` "${p.issuer}"` : ''}`,
      fix: p.configKey ?? 'delegation.ca',
      todo: `make the backend trust ${p.configKey ?? 'delegation.ca'}.cert as a client CA (or set ${p.configKey ?? 'delegation.ca'} to the CA it trusts)`,
    };
    case 'proxyCert': return {
      what: `the proxy certificate ${p.configKey ?? 'proxyCert'}${p.issuer ? ` (issued by "${p.issuer}")` : ''}`,
      fix: p.configKey ?? 'proxyCert',
      todo: `make the backend trust the issuer of ${p.configKey ?? 'proxyCert'} as a client CA (or set ${p.configKey ?? 'proxyCert'} to a certificate it trusts)`,
    };
    case 'none': return {
      what: 'no client certificate (anonymous client)',
      fix: 'routes[].allowAnonymous',
      todo: 'the backend requires a client certificate: do not forward anonymous clients to it (routes[].allowAnonymous: false)',
    };
    default: return { what: 'its client certificate', fix: 'delegation.ca', todo: 'make the backend trust the CA of the client certificate countersign presents (delegation.ca, or the route\'s proxyCert issuer)' };
  }
}

/**
 * A verification that failed on our side (`authorizationError` of a socket
 * that completed its handshake with `rejectUnauthorized: false`).
 */
export function diagnoseVerification(ctx: HandshakeContext, code: string, peer: DetailedPeerCertificate | undefined): HandshakeDiagnosis {
  const p = summarizePeer(peer);
  const where = `upstream ${ctx.upstream} server ${ctx.server} (${code})`;
  const carries = `it carries ${list(p.names)}, issued by "${p.issuer ?? 'unknown'}"`;
  const base = { upstream: ctx.upstream, server: ctx.server, servername: ctx.checked, certNames: p.names, certSubject: p.subject, certIssuer: p.issuer, certNotAfter: p.notAfter, tlsCode: code };
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    const fix = `upstreams.${ctx.upstream}.servername`;
    return { ...base, kind: 'name-mismatch', fix, message: `${where}: its certificate does not match the name checked, "${ctx.checked}"; ${carries}. Set ${fix} to one of those names, or reissue the server certificate for "${ctx.checked}"` };
  }
  if (code === 'CERT_HAS_EXPIRED') {
    const fix = `the certificate of ${ctx.server}`;
    return { ...base, kind: 'expired', fix, message: `${where}: its certificate expired at ${p.notAfter ?? 'unknown'} (${carries}). Renew the server's certificate (no countersign key fixes this; check the clocks if it should still be valid)` };
  }
  if (code === 'CERT_NOT_YET_VALID') {
    const fix = `the certificate of ${ctx.server}`;
    return { ...base, kind: 'not-yet-valid', fix, message: `${where}: its certificate is not valid yet (${carries}). Check the clocks of this machine and of the CA, or reissue the certificate` };
  }
  // UNKNOWN_ISSUER and any other chain problem: the trust store is the key to look at
  const fix = `upstreams.${ctx.upstream}.ca`;
  const why = UNKNOWN_ISSUER.has(code) ? `its certificate's issuer "${p.issuer ?? 'unknown'}" is not trusted by ${fix}` : `its certificate chain does not verify against ${fix}`;
  return { ...base, kind: 'unknown-issuer', fix, message: `${where}: ${why}; it carries ${list(p.names)}. Add the CA that issued the server's certificate to ${fix}` };
}

/**
 * A TLS error during or right after the handshake (an alert from the server,
 * no TLS version in common, not TLS at all); undefined when it is not a TLS
 * handshake failure (refused, reset, timeout: those say what they are already).
 */
export function diagnoseTlsError(ctx: HandshakeContext, err: Error & { code?: string }): HandshakeDiagnosis | undefined {
  const code = err.code ?? '';
  const text = `${code} ${err.message}`;
  const where = `upstream ${ctx.upstream} server ${ctx.server}`;
  const base = { upstream: ctx.upstream, server: ctx.server, servername: ctx.checked, tlsCode: code || err.message };
  if (/NO_APPLICATION_PROTOCOL|no application protocol/i.test(text)) {
    const fix = `upstreams.${ctx.upstream}.alpn`;
    return { ...base, kind: 'alpn', fix, message: `${where}: it refused every ALPN protocol offered (${ctx.alpn?.join(', ') || 'none'}) with no_application_protocol. Remove ${fix} to let countersign learn what it speaks, or set it to protocols the server speaks` };
  }
  if (CLIENT_CERT_ALERTS.test(code)) {
    const p = presented(ctx.presenting);
    // OpenSSL 3 names an alert from some servers (Go's) SSL/TLS_ALERT_…
    const alert = code.replace(/^ERR_SSL_(SSLV3|TLSV1|TLSV13|SSL\/TLS)_ALERT_/, '').toLowerCase();
    return { ...base, kind: 'client-certificate-refused', fix: p.fix, message: `${where}: it refused the client certificate countersign presented, ${p.what} (TLS alert ${alert}). ${p.todo.charAt(0).toUpperCase()}${p.todo.slice(1)}` };
  }
  if (PROTOCOL_VERSION.test(code)) {
    const fix = `upstreams.${ctx.upstream}.minVersion`;
    return { ...base, kind: 'protocol', fix, message: `${where}: no TLS version in common (countersign offers ${ctx.minVersion ?? 'TLSv1.3'} and later; ${code}). If the server only speaks TLS 1.2, set ${fix}: TLSv1.2` };
  }
  if (NOT_TLS.test(code)) {
    const fix = `upstreams.${ctx.upstream}.servers`;
    return { ...base, kind: 'protocol', fix, message: `${where}: it did not answer with TLS (${code}): is this a plaintext port, or does the server need a pre-TLS request (upstreams.${ctx.upstream}.starttls)? Check ${fix}` };
  }
  if (/^ERR_SSL_/.test(code)) {
    const fix = `upstreams.${ctx.upstream}`;
    return { ...base, kind: 'protocol', fix, message: `${where}: the TLS handshake failed (${code}: ${err.message}). Compare the server's TLS settings with ${fix} (minVersion, alpn, starttls)` };
  }
  return undefined;
}

/**
 * The server closed the connection right after the handshake without a word
 * (a Node.js server refusing a client certificate closes without an alert):
 * said by `check --connect`, which sends nothing, so a refusal is the likely reason.
 */
export function diagnoseSilentClose(ctx: HandshakeContext): HandshakeDiagnosis {
  const p = presented(ctx.presenting);
  return {
    kind: 'client-certificate-refused', upstream: ctx.upstream, server: ctx.server, servername: ctx.checked, tlsCode: 'CLOSED_AFTER_HANDSHAKE', fix: p.fix,
    message: `upstream ${ctx.upstream} server ${ctx.server}: it closed the connection right after the handshake without an alert, most likely refusing the client certificate countersign presented, ${p.what}. ${p.todo.charAt(0).toUpperCase()}${p.todo.slice(1)}`,
  };
}

/** The edge negotiated a protocol the server does not answer with. */
export function diagnoseAlpnMismatch(ctx: HandshakeContext, expected: string | false, got: string | false): HandshakeDiagnosis {
  const fix = `upstreams.${ctx.upstream}.alpn`;
  return {
    kind: 'alpn', upstream: ctx.upstream, server: ctx.server, servername: ctx.checked, tlsCode: 'ALPN_MISMATCH', fix,
    message: `upstream ${ctx.upstream} server ${ctx.server}: expected ALPN ${expected || 'none'} but it answered ${got || 'none'}. Remove ${fix} to let countersign learn what it speaks, or set it to what the server speaks`,
  };
}

/**
 * What a route presents upstream, for diagnoses: `delegated` with the
 * delegation CA's certificate (PEM; its subject is the issuer of every minted
 * certificate), `proxyCert` with the proxy certificate (its issuer).
 */
export function presentedIdentity(what: PresentedIdentity['what'], configKey?: string, certPem?: string | Buffer): PresentedIdentity {
  let issuer: string | undefined;
  try {
    if (certPem) {
      const x = new X509Certificate(certPem);
      issuer = (what === 'delegated' ? x.subject : x.issuer).split('\n').join(', ');
    }
  } catch { /* the config checks parsed it already; the diagnosis just lacks the name */ }
  return { what, configKey, issuer };
}
