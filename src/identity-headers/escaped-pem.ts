/**
 * `kes` / `nginx`: `X-Tls-Client-Cert` = nginx's `$ssl_client_escaped_cert`,
 * the leaf PEM URL-escaped byte for byte as nginx escapes it (what KES's
 * `tls.proxy.header.cert` and Keycloak's nginx provider read). Only the leaf,
 * as nginx sends. `kes` and `nginx` are one format under two names.
 */
import { pemBlocks, toPem } from '../pki/index.js';
import { assertHeaderName, headerLines, malformed, refuseBy, type DecodedCertificate, type HeaderSource, type IdentityHeaderCodec } from './codec.js';
import { escapeUriComponentLikeNginx } from './nginx-uri-escape.js';

const DEFAULT_NAME = 'X-Tls-Client-Cert';

function unescape(header: string, value: string): string {
  try {
    // decodeURIComponent, not form decoding: a literal "+" is base64, never a space
    return decodeURIComponent(value);
  } catch (err) {
    malformed(header, 'bad percent-encoding; expected URL-escaped PEM (nginx $ssl_client_escaped_cert)', err);
  }
}

/** Every certificate of a URL-escaped PEM (also XFCC's Cert= and Chain=); at least one. */
export function certificatesFromEscapedPem(header: string, value: string): Buffer[] {
  const text = unescape(header, value);
  let blocks;
  try {
    blocks = pemBlocks(text).filter((b) => b.label === 'CERTIFICATE');
  } catch (err) {
    malformed(header, (err as Error).message, err);
  }
  if (blocks.length === 0) malformed(header, 'no "-----BEGIN CERTIFICATE-----" block after URL-unescaping; expected URL-escaped PEM (nginx $ssl_client_escaped_cert)');
  return blocks.map((b) => b.der);
}

/** One certificate as nginx's `$ssl_client_escaped_cert` writes it. */
export function encodeEscapedPem(der: Uint8Array): string {
  return escapeUriComponentLikeNginx(toPem(der));
}

/** `kes` / `nginx`: exactly one URL-escaped PEM certificate. */
export function decodeEscapedPemHeader(value: string, header = DEFAULT_NAME.toLowerCase()): Buffer {
  const certs = certificatesFromEscapedPem(header, value.trim());
  if (certs.length !== 1) malformed(header, `${certs.length} certificates present; expected exactly one (the client's)`);
  return certs[0];
}

/** The codec under one of its two names (the name only shows in option errors). */
export function escapedPemCodec(format: 'kes' | 'nginx'): IdentityHeaderCodec<DecodedCertificate> {
  return {
    defaultHeaderName: DEFAULT_NAME,
    carriesCertificate: true,
    sendsChain: false,
    sendsNames: false,
    encoder(opts = {}) {
      const name = opts.headerName ?? DEFAULT_NAME;
      assertHeaderName(name);
      refuseBy(format, opts);
      return (peer) => ({ [name]: encodeEscapedPem(peer.der) });
    },
    decode(req: HeaderSource, name = DEFAULT_NAME.toLowerCase()) {
      const lines = headerLines(req, name);
      if (lines === undefined) return undefined;
      if (lines.length !== 1) malformed(name, `appears ${lines.length} times; expected once`);
      return { der: decodeEscapedPemHeader(lines[0], name), chain: [] };
    },
  };
}
