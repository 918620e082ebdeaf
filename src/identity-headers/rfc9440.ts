/**
 * `rfc9440`: `Client-Cert: :<base64 DER>:` (an RFC 8941 Byte Sequence) and,
 * when the client sent intermediates, `Client-Cert-Chain: :<b64>:, :<b64>:`
 * (RFC 9440). Renamed with `headerName`, the chain goes in `<headerName>-Chain`.
 */
import { assertHeaderName, headerLines, malformed, refuseBy, type DecodedCertificate, type HeaderSource, type IdentityHeaderCodec } from './codec.js';

const DEFAULT_NAME = 'Client-Cert';

/** RFC 9440's companion field is the certificate header's name + "-Chain" (`Client-Cert-Chain`). */
export const RFC9440_CHAIN_SUFFIX = '-chain';

/** Base64 DER as an RFC 8941 Byte Sequence. */
const sfBinary = (b: Uint8Array) => `:${Buffer.from(b).toString('base64')}:`;

// RFC 8941 Byte Sequence: ":" base64 ":" with optional parameters (";key" or ";key=value"), which are ignored.
const BYTE_SEQUENCE = /^:([A-Za-z0-9+/]*={0,2}):((?:;[a-z*][a-z0-9_\-.*]*(?:=[^;,]*)?)*)$/;

function byteSequence(header: string, item: string): Buffer {
  const m = BYTE_SEQUENCE.exec(item.trim());
  if (!m) malformed(header, 'expected an RFC 8941 byte sequence ":<base64 DER>:"');
  const b64 = m[1];
  if (b64.length === 0) malformed(header, 'empty byte sequence');
  // unpadded base64 is accepted (RFC 8941 4.2.7 asks parsers to be lenient about padding), bad lengths are not
  if (b64.replace(/=+$/, '').length % 4 === 1 || (b64.includes('=') && b64.length % 4 !== 0)) malformed(header, 'base64 of impossible length');
  return Buffer.from(b64, 'base64');
}

/** `rfc9440`: `Client-Cert` (one byte sequence) and the optional `Client-Cert-Chain` list. */
export function decodeRfc9440Header(certLines: string[], chainLines?: string[], header = DEFAULT_NAME.toLowerCase()): DecodedCertificate {
  const chainHeader = header + RFC9440_CHAIN_SUFFIX;
  if (certLines.length !== 1) malformed(header, `appears ${certLines.length} times; expected once`);
  const der = byteSequence(header, certLines[0]);
  const chain: Buffer[] = [];
  if (chainLines) {
    // a List may be split over several lines; they concatenate with commas (RFC 8941 4.2)
    for (const item of chainLines.join(',').split(',')) {
      if (item.trim() === '') malformed(chainHeader, 'empty list member');
      chain.push(byteSequence(chainHeader, item));
    }
  }
  return { der, chain };
}

export const rfc9440Codec: IdentityHeaderCodec<DecodedCertificate> = {
  defaultHeaderName: DEFAULT_NAME,
  carriesCertificate: true,
  sendsChain: true,
  sendsNames: false,
  encoder(opts = {}) {
    const name = opts.headerName ?? DEFAULT_NAME;
    assertHeaderName(name);
    refuseBy('rfc9440', opts);
    const chainName = `${name}-Chain`;
    return (peer) => {
      const out: Record<string, string> = { [name]: sfBinary(peer.der) };
      if (peer.chain && peer.chain.length > 0) out[chainName] = peer.chain.map(sfBinary).join(', ');
      return out;
    };
  },
  decode(req: HeaderSource, name = DEFAULT_NAME.toLowerCase()) {
    const lines = headerLines(req, name);
    if (lines === undefined) return undefined;
    return decodeRfc9440Header(lines, headerLines(req, name + RFC9440_CHAIN_SUFFIX), name);
  },
};
