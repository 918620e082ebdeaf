/**
 * `k8s-front-proxy`: the Kubernetes API server's request-header
 * authentication: `X-Remote-User` = the subject's CN, one `X-Remote-Group`
 * per O, as Go's pkix.Name reads them (the last CN; every O in encoding
 * order), presented with the route's proxyCert as the front-proxy client
 * certificate. Values are sent as their UTF-8 bytes (Node writes a header
 * string as Latin-1, so the string holds one character a byte).
 *
 * It carries no certificate: decoding gives the user and groups the API
 * server would read (each X-Remote-Group line is one group, as
 * `--requestheader-group-headers` reads them), not an identity for
 * countersign/backend.
 */
import { CountersignError } from '../errors.js';
import { nameAttributes, parseCertificateFields } from '../pki/index.js';
import { headerLines, malformed, refuseBy, type DecodedUser, type HeaderSource, type IdentityHeaderCodec, type IdentityHeaders } from './codec.js';

export const K8S_USER_HEADER = 'X-Remote-User';
/** the Kubernetes front-proxy group header (`--requestheader-group-headers`) */
export const K8S_GROUP_HEADER = 'X-Remote-Group';
/** every header starting with this is a user "extra" for the API server (`--requestheader-extra-headers-prefix`) */
export const K8S_EXTRA_PREFIX = 'x-remote-extra-';

const OID_CN = '2.5.4.3';
const OID_O = '2.5.4.10';

/** A header value as its UTF-8 bytes (Node writes header strings as latin1); control characters are refused. */
function headerValue(v: string, what: string): string {
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(v)) throw new CountersignError('ERR_IDENTITY_HEADER_VALUE', `the client certificate's ${what} ${JSON.stringify(v)} holds a control character and cannot be sent in a header`);
  return Buffer.from(v, 'utf8').toString('latin1');
}

/** A received value (one character a byte) read back as UTF-8, strictly. */
function fromHeaderValue(v: string, header: string): string {
  // a character above 0xff cannot have come off the wire as one byte
  for (let i = 0; i < v.length; i++) if (v.charCodeAt(i) > 0xff) malformed(header, 'holds a character that is not a byte; expected UTF-8 bytes');
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(v, 'latin1'));
  } catch (err) {
    malformed(header, 'is not valid UTF-8', err);
  }
}

/** X-Remote-User from the subject's CN (the last one, as Go reads it), one X-Remote-Group per O. */
export function k8sFrontProxyHeaders(der: Buffer): IdentityHeaders {
  const attrs = nameAttributes(parseCertificateFields(der).subject);
  const cn = attrs.filter((a) => a.oid === OID_CN).at(-1)?.value;
  if (!cn) throw new CountersignError('ERR_IDENTITY_HEADER_VALUE', 'the client certificate has no CN: the Kubernetes API server needs one as the user name (X-Remote-User)');
  const groups = attrs.filter((a) => a.oid === OID_O).map((a) => headerValue(a.value, 'O'));
  return { [K8S_USER_HEADER]: headerValue(cn, 'CN'), ...(groups.length ? { [K8S_GROUP_HEADER]: groups } : {}) };
}

export const k8sFrontProxyCodec: IdentityHeaderCodec<DecodedUser> = {
  defaultHeaderName: K8S_USER_HEADER,
  carriesCertificate: false,
  sendsChain: false,
  sendsNames: true,
  encoder(opts = {}) {
    if (opts.headerName !== undefined) throw new CountersignError('ERR_IDENTITY_HEADER_OPTIONS', 'headerName does not apply to header: k8s-front-proxy (the API server reads X-Remote-User and X-Remote-Group; --requestheader-username-headers names them)');
    refuseBy('k8s-front-proxy', opts);
    return (peer) => k8sFrontProxyHeaders(peer.der);
  },
  decode(req: HeaderSource, name = K8S_USER_HEADER.toLowerCase()) {
    const users = headerLines(req, name);
    if (users === undefined) return undefined;
    if (users.length !== 1) malformed(name, `appears ${users.length} times; expected once`);
    const user = fromHeaderValue(users[0], name);
    if (user === '') malformed(name, 'is empty');
    const groupHeader = K8S_GROUP_HEADER.toLowerCase();
    const groups = (headerLines(req, groupHeader) ?? []).map((g) => fromHeaderValue(g, groupHeader));
    return { user, groups };
  },
};
