/**
 * Who is really on the other end of a backend's TLS connection.
 *
 * - `delegated`: the peer presents a certificate minted by a configured
 *   delegation CA (countersign); the delegation extension names the original
 *   client. The extension is believed only after this module has checked the
 *   signature against the delegation CA's pinned public key.
 * - `header`: the peer is a trusted header-mode proxy (nginx, Envoy, a
 *   countersign route with `identity: header`), pinned by its identity; the
 *   original certificate comes from a request header. Per request.
 * - `direct`: the client connected itself, when `allowDirect` permits it.
 *
 * Connection-level results are cached per socket: a TLS 1.3 connection's peer
 * certificate cannot change, and this keeps the per-request cost to a WeakMap
 * lookup.
 */
import { timingSafeEqual, X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { CountersignError, isCountersignError } from '../errors.js';
import { DELEGATION_OID, decodeDelegationExtension, nameToString, type DelegationExtension } from '../delegation/extension-codec.js';
import { findExtension, describeCertificate, serialHex, sha256, type CertificateInfo } from '../pki/index.js';
import { issuingAnchor, loadDelegationAnchors, type CertificateInput, type DelegationAnchor } from './delegation-trust.js';
import {
  readForwardedCertificate, resolveHeaderSpecs, headerLines,
  type HeaderFormat, type HeaderSource, type HeaderSpec, type ResolvedHeaderSpec,
} from './identity-headers.js';
import { normalizeIdentity } from './policy.js';

export interface IdentifierOptions {
  /**
   * The delegation CA certificate(s) whose minted certificates are believed:
   * PEM text (one or more blocks), DER, X509Certificate, or a list of them.
   * Pinned by public key. The TLS server must also trust them (its `ca`
   * option) so the handshake accepts minted certificates. Default: none.
   */
  delegationCAs?: CertificateInput | CertificateInput[];
  /** Accept clients that connect directly, identified by their own certificate. Default false. */
  allowDirect?: boolean;
  /** OID of the delegation extension; must match the proxy's. Default DELEGATION_OID. */
  extensionOid?: string;
  /**
   * Identities (hex SHA-256 of the SPKI, `countersign identity of proxy.crt`)
   * of header-mode proxies whose identity headers are believed. Default [].
   */
  trustedProxies?: string[];
  /**
   * Header format(s) read from trusted proxies: 'kes' (= 'nginx'), 'rfc9440',
   * 'xfcc', or { format, name } to rename the header. Default 'kes'
   * (`X-Tls-Client-Cert`). Configure only what your proxy sends and strips:
   * a proxy that overwrites one header but passes another through from the
   * client would let the client choose its identity.
   */
  header?: HeaderFormat | HeaderSpec | Array<HeaderFormat | HeaderSpec>;
  /** Clock for validity checks, in ms since the epoch. Default Date.now. */
  now?: () => number;
}

export type IdentityVia = 'direct' | 'delegated' | 'header';

/** Who vouched for the identity: the header proxy's certificate, or the delegation CA. */
export interface Voucher {
  identity: string;
  subject: string;
  certSha256: string;
}

export interface ResolvedIdentity {
  via: IdentityVia;
  /** lowercase hex SHA-256 of the original certificate's SPKI: what policies are keyed on */
  identity: string;
  /** lowercase hex SHA-256 of the original certificate */
  certSha256: string;
  /** uppercase hex SHA-1 of the original certificate */
  certSha1: string;
  subject: string;
  issuer: string;
  /**
   * Whether a CA vouched for `subject` (and the certificate's other names):
   * `direct`: true, this server's TLS trust store verified the chain;
   * `delegated`: what the proxy's extension says — false when the client
   * connected to countersign in `clientAuth.mode: any` with a certificate no
   * configured client CA issued (a self-signed one names itself), and for
   * extensions from proxies before this field (version 1); `header`: false,
   * this library cannot tell whether the proxy checked the certificate
   * against a CA. **When false, never authorize by `subject` or any name in
   * the certificate: only by `identity`** (the key the client proved it holds).
   */
  namesVouched: boolean;
  /** uppercase hex */
  serial: string;
  notAfter: Date;
  /**
   * `header`: the proxy's TLS certificate. `delegated`: the delegation CA
   * that signed the presented certificate. Absent for `direct`.
   */
  proxy?: Voucher;
  /** the original certificate's DER, when known (direct, header, or embedded in the extension) */
  certificate?: Buffer;
  /** why an identity header on this request was ignored (worth a log line: someone sent one) */
  headerIgnored?: HeaderIgnored;
}

export interface HeaderIgnored {
  code: 'ERR_HEADER_UNTRUSTED';
  header: string;
  message: string;
}

/** What identifyRequest needs of an http request (node:http, Express and Fastify's `request.raw` all fit). */
export interface IdentifiableRequest extends HeaderSource {
  socket: unknown;
}

export interface Identifier {
  /** Connection-level identity of a TLS socket; cached per socket. Throws CountersignError. */
  identify(socket: TLSSocket): ResolvedIdentity;
  /** Identity of one request: honours identity headers from trusted proxies. Throws CountersignError. */
  identifyRequest(req: IdentifiableRequest): ResolvedIdentity;
  /** The header names this identifier reads, e.g. to strip them before logging. */
  readonly headerNames: readonly string[];
}

type Peer =
  | { kind: 'direct'; summary: CertificateInfo; trustedProxy: boolean }
  | { kind: 'delegated'; identity: ResolvedIdentity };

type Outcome = { ok: true; peer: Peer } | { ok: false; error: CountersignError };

function describeDelegated(ext: DelegationExtension, anchor: DelegationAnchor): ResolvedIdentity {
  return Object.freeze({
    via: 'delegated' as const,
    identity: ext.spkiSha256.toString('hex'),
    certSha256: ext.certSha256.toString('hex'),
    certSha1: ext.certSha1.toString('hex').toUpperCase(),
    subject: nameToString(ext.subject),
    issuer: nameToString(ext.issuer),
    namesVouched: ext.namesVouched,
    serial: serialHex(ext.serial),
    notAfter: ext.notAfter,
    proxy: Object.freeze({ identity: anchor.summary.identity, subject: anchor.summary.subject, certSha256: anchor.summary.certSha256 }),
    ...(ext.certificate ? { certificate: ext.certificate } : {}),
  });
}

function describeDirect(s: CertificateInfo): ResolvedIdentity {
  return Object.freeze({
    via: 'direct' as const,
    identity: s.identity,
    certSha256: s.certSha256,
    certSha1: s.certSha1,
    subject: s.subject,
    issuer: s.issuer,
    namesVouched: true,
    serial: s.serial,
    notAfter: s.notAfter,
    certificate: s.der,
  });
}

function checkValidity(what: string, subject: string, notBefore: Date, notAfter: Date, now: number, fix: string): void {
  if (now > notAfter.getTime()) {
    throw new CountersignError('ERR_CERT_EXPIRED', `${what} "${subject}" expired at ${notAfter.toISOString()}; ${fix}`);
  }
  if (now < notBefore.getTime()) {
    throw new CountersignError('ERR_CERT_NOT_YET_VALID', `${what} "${subject}" is not valid before ${notBefore.toISOString()}; check the clocks`);
  }
}

class TlsIdentifier implements Identifier {
  readonly headerNames: readonly string[];
  private readonly anchors: DelegationAnchor[];
  private readonly allowDirect: boolean;
  private readonly extensionOid: string;
  private readonly proxies: Buffer[];
  private readonly specs: ResolvedHeaderSpec[];
  private readonly now: () => number;
  private readonly peers = new WeakMap<object, Outcome>();

  constructor(opts: IdentifierOptions) {
    this.anchors = loadDelegationAnchors(opts.delegationCAs);
    this.allowDirect = opts.allowDirect ?? false;
    this.extensionOid = opts.extensionOid ?? DELEGATION_OID;
    if (!/^[0-2](\.(0|[1-9][0-9]*))+$/.test(this.extensionOid)) {
      throw new CountersignError('ERR_CONFIG_INVALID', `extensionOid: "${this.extensionOid}" is not a dotted OID`);
    }
    this.proxies = (opts.trustedProxies ?? []).map((id, i) => {
      try {
        return Buffer.from(normalizeIdentity(id, `trustedProxies[${i}]`), 'hex');
      } catch (err) {
        throw new CountersignError('ERR_CONFIG_INVALID', (err as Error).message, { cause: err });
      }
    });
    this.specs = resolveHeaderSpecs(opts.header);
    this.headerNames = this.specs.map((s) => s.name);
    this.now = opts.now ?? Date.now;
    if (this.anchors.length === 0 && this.proxies.length === 0 && !this.allowDirect) {
      throw new CountersignError('ERR_CONFIG_INVALID', 'createIdentifier: no client could ever be identified; give delegationCAs, trustedProxies, or allowDirect: true');
    }
  }

  identify(socket: TLSSocket): ResolvedIdentity {
    return this.connectionIdentity(this.peer(socket));
  }

  identifyRequest(req: IdentifiableRequest): ResolvedIdentity {
    const peer = this.peer(req.socket as TLSSocket);
    const present = this.specs.filter((s) => headerLines(req, s.name) !== undefined);
    if (peer.kind === 'direct' && peer.trustedProxy) {
      const names = this.specs.map((s) => s.name).join(' or ');
      if (present.length === 0) {
        // as KES does: a trusted proxy's request without the header is refused, so the
        // proxy's own identity never stands in for a client whose certificate got lost
        throw new CountersignError('ERR_HEADER_MALFORMED', `request from trusted proxy "${peer.summary.subject}" carries no ${names} header; the proxy must forward the client certificate`);
      }
      if (present.length > 1) {
        throw new CountersignError('ERR_HEADER_MALFORMED', `request from trusted proxy carries ${present.map((s) => s.name).join(' and ')}; exactly one identity header is expected`);
      }
      return this.fromHeader(req, present[0], peer.summary);
    }
    if (present.length === 0) return this.connectionIdentity(peer);
    const header = present[0].name;
    const ignored: HeaderIgnored = {
      code: 'ERR_HEADER_UNTRUSTED',
      header,
      message: peer.kind === 'delegated'
        ? `identity header ${header} ignored: the connection carries a delegated identity`
        : `identity header ${header} ignored: peer ${peer.summary.identity} ("${peer.summary.subject}") is not in trustedProxies`,
    };
    let base: ResolvedIdentity;
    try {
      base = this.connectionIdentity(peer);
    } catch (err) {
      if (isCountersignError(err)) throw new CountersignError(err.code, `${err.message} (${ignored.message})`, { cause: err });
      throw err;
    }
    return Object.freeze({ ...base, headerIgnored: ignored });
  }

  private fromHeader(req: IdentifiableRequest, spec: ResolvedHeaderSpec, proxy: CertificateInfo): ResolvedIdentity {
    const forwarded = readForwardedCertificate(req, spec) as NonNullable<ReturnType<typeof readForwardedCertificate>>;
    let s: CertificateInfo;
    try {
      s = describeCertificate(forwarded.der);
    } catch (err) {
      throw new CountersignError('ERR_HEADER_MALFORMED', `identity header ${spec.name}: not a certificate (${(err as Error).message})`, { cause: err });
    }
    checkValidity('forwarded client certificate', s.subject, s.notBefore, s.notAfter, this.now(), 'the client must renew it');
    return Object.freeze({
      ...describeDirect(s),
      via: 'header' as const,
      // the proxy may serve any certificate (nginx optional_no_ca, countersign mode any): the names are only claimed
      namesVouched: false,
      proxy: Object.freeze({ identity: proxy.identity, subject: proxy.subject, certSha256: proxy.certSha256 }),
    });
  }

  private connectionIdentity(peer: Peer): ResolvedIdentity {
    if (peer.kind === 'delegated') return peer.identity;
    if (!this.allowDirect) {
      const hint = peer.trustedProxy ? ' (it is a trusted proxy: use identifyRequest so its identity header is read)' : '';
      throw new CountersignError('ERR_DIRECT_NOT_ALLOWED', `client "${peer.summary.subject}" (${peer.summary.identity}) connected directly, but this backend accepts only delegated identities${hint}; connect through countersign, or set allowDirect: true`);
    }
    return describeDirect(peer.summary);
  }

  private peer(socket: TLSSocket): Peer {
    if (socket === null || typeof socket !== 'object') {
      throw new CountersignError('ERR_NO_PEER_CERTIFICATE', 'no socket to identify');
    }
    let outcome = this.peers.get(socket);
    if (!outcome) {
      try {
        outcome = { ok: true, peer: this.examine(socket) };
      } catch (err) {
        if (!isCountersignError(err)) throw err;
        outcome = { ok: false, error: err };
      }
      this.peers.set(socket, outcome);
    }
    if (!outcome.ok) throw outcome.error;
    return outcome.peer;
  }

  private examine(socket: TLSSocket): Peer {
    if (typeof socket.getPeerX509Certificate !== 'function') {
      throw new CountersignError('ERR_NO_PEER_CERTIFICATE', 'the connection is not TLS; serve with node:https or node:tls and requestCert: true');
    }
    const x: X509Certificate | undefined = socket.getPeerX509Certificate();
    if (!x) {
      throw new CountersignError('ERR_NO_PEER_CERTIFICATE', 'the client presented no certificate; the server must request one (requestCert: true) and the client must send one');
    }
    if (!socket.authorized) {
      throw new CountersignError('ERR_PEER_UNAUTHORIZED', `the client certificate "${x.subject.replace(/\n/g, ', ')}" did not verify against the server's trust store (${String(socket.authorizationError ?? 'unknown reason')}); add its CA to the server's ca option`);
    }
    let summary: CertificateInfo;
    try {
      summary = describeCertificate(Buffer.from(x.raw));
    } catch (err) {
      throw new CountersignError('ERR_CERT_INVALID', `the client certificate cannot be parsed: ${(err as Error).message}`, { cause: err });
    }
    const ext = findExtension(summary.fields, this.extensionOid);
    let anchor = this.anchors.length ? issuingAnchor(x, this.anchors) : undefined;
    // one intermediate per proxy instance under a pinned root: the proxy sends it
    // after the minted certificate; it counts only if it is a CA, signed by a
    // pinned root, and the signer of this certificate (signatures, not names)
    let intermediate: { cert: X509Certificate; summary: CertificateInfo } | undefined;
    if (ext && !anchor && this.anchors.length) {
      for (const i of presentedIntermediates(socket)) {
        if (!i.ca || !verifiesWith(x, i)) continue;
        const a = issuingAnchor(i, this.anchors);
        if (a) { anchor = a; intermediate = { cert: i, summary: describeCertificate(Buffer.from(i.raw)) }; break; }
      }
    }
    if (ext && !anchor) {
      throw new CountersignError('ERR_DELEGATION_UNTRUSTED_ISSUER', `certificate "${summary.subject}" carries a delegation extension but was not signed by a trusted delegation CA (issuer "${summary.issuer}"); refused — only certificates minted by a CA in delegationCAs are believed`);
    }
    if (anchor && !ext) {
      throw new CountersignError('ERR_DELEGATION_MISSING', `certificate "${summary.subject}" was issued by delegation CA "${anchor.summary.subject}" but has no delegation extension ${this.extensionOid}; check that the proxy and backend use the same extensionOid`);
    }
    if (ext && anchor) {
      const now = this.now();
      checkValidity('delegation CA', anchor.summary.subject, anchor.summary.notBefore, anchor.summary.notAfter, now, 'replace the delegation CA');
      if (intermediate) checkValidity('delegation intermediate CA', intermediate.summary.subject, intermediate.summary.notBefore, intermediate.summary.notAfter, now, 'replace the proxy instance\'s intermediate');
      checkValidity('delegated certificate', summary.subject, summary.notBefore, summary.notAfter, now, 'the proxy mints a fresh one on the next connection');
      const decoded = decodeDelegationExtension(ext.value);
      if (decoded.certificate && !sha256(decoded.certificate).equals(decoded.certSha256)) {
        throw new CountersignError('ERR_DELEGATION_EXTENSION_MALFORMED', 'delegation extension: the embedded certificate does not match certSha256');
      }
      if (now > decoded.notAfter.getTime()) {
        throw new CountersignError('ERR_CERT_EXPIRED', `the original client certificate "${nameToString(decoded.subject)}" expired at ${decoded.notAfter.toISOString()}; the client must renew it`);
      }
      return { kind: 'delegated', identity: describeDelegated(decoded, anchor) };
    }
    return { kind: 'direct', summary, trustedProxy: this.isTrustedProxy(summary.identity) };
  }

  private isTrustedProxy(identity: string): boolean {
    const id = Buffer.from(identity, 'hex');
    let found = false;
    for (const p of this.proxies) found = timingSafeEqual(p, id) || found;
    return found;
  }
}

/** The certificates a TLS peer sent after its leaf. */
function presentedIntermediates(socket: TLSSocket): X509Certificate[] {
  const out: X509Certificate[] = [];
  let c = socket.getPeerCertificate(true) as import('node:tls').DetailedPeerCertificate | undefined;
  const seen = new Set<string>();
  while (c && c.raw && !seen.has(c.fingerprint256) && seen.size < 8) {
    seen.add(c.fingerprint256);
    if (seen.size > 1) {
      try { out.push(new X509Certificate(c.raw)); } catch { /* not a certificate we can use */ }
    }
    if (!c.issuerCertificate || c.issuerCertificate === c) break;
    c = c.issuerCertificate;
  }
  return out;
}

function verifiesWith(cert: X509Certificate, issuer: X509Certificate): boolean {
  try { return cert.verify(issuer.publicKey); } catch { return false; }
}

export function createIdentifier(options: IdentifierOptions = {}): Identifier {
  return new TlsIdentifier(options);
}
