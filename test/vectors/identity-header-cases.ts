/**
 * The identity-header golden vectors (test/vectors/identity-header-vectors.json):
 * for each format, what the proxy writes for fixed certificates (made with the
 * openssl CLI, test/helpers/golden-certificates.ts), and what a backend reads
 * from given header values, well-formed and malformed.
 *
 * Built from the codecs (src/identity-headers/); the inputs are fixed, so the
 * file is the same every time it is generated, and
 * test/unit/identity-header-vectors.test.ts fails when the codecs' output
 * moves away from the committed file. Independent anchors (nginx's own
 * `$ssl_client_escaped_cert`, openssl's fingerprints) are checked there too.
 *
 *   npm run vectors   (writes this file beside delegation-vectors.json)
 */
import { resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isCountersignError } from '../../src/errors.js';
import {
  IDENTITY_HEADER_CODECS, IDENTITY_HEADER_FORMATS, type HeaderSource, type IdentityHeaderFormat, type IdentityHeaderOptions,
} from '../../src/identity-headers/index.js';
import { certificatesDer } from '../../src/pki/index.js';
import { ALICE_PEM, FIXTURE_INTERMEDIATE_PEM, FIXTURE_LEAF_PEM, GOLDEN_CA_PEM } from '../helpers/golden-certificates.js';

export const IDENTITY_HEADER_VECTORS_FILE = resolve(dirname(fileURLToPath(import.meta.url)), '../../../test/vectors/identity-header-vectors.json');

/** The certificates the cases name, as PEM. */
export const VECTOR_CERTIFICATES = { leaf: FIXTURE_LEAF_PEM, intermediate: FIXTURE_INTERMEDIATE_PEM, alice: ALICE_PEM, goldenCa: GOLDEN_CA_PEM } as const;
export type CertificateName = keyof typeof VECTOR_CERTIFICATES;

const derOf = (name: CertificateName): Buffer => certificatesDer(VECTOR_CERTIFICATES[name], name)[0];

/** Encoding: a certificate (by name) and options in, exact headers (or an error code) out. */
export interface EncodeCase {
  name: string;
  format: IdentityHeaderFormat;
  certificate: CertificateName;
  chain: CertificateName[];
  options: IdentityHeaderOptions;
  expect: { headers: Record<string, string | string[]> } | { error: string };
}

/** Decoding: header lines (lower-case names, one array entry a line) in, a certificate, user or error code out. */
export interface DecodeCase {
  name: string;
  format: IdentityHeaderFormat;
  /** the header to read (lower case); the format's default when absent */
  headerName?: string;
  headers: Record<string, string[]>;
  expect:
    | { absent: true }
    | { certificate: CertificateName; chain: CertificateName[] }
    | { user: string; groups: string[] }
    | { error: string };
}

export interface IdentityHeaderVectors {
  comment: string;
  formats: readonly IdentityHeaderFormat[];
  defaultHeaderNames: Record<IdentityHeaderFormat, string>;
  certificates: typeof VECTOR_CERTIFICATES;
  encode: EncodeCase[];
  decode: DecodeCase[];
}

function nameOf(der: Buffer): CertificateName {
  const hit = (Object.keys(VECTOR_CERTIFICATES) as CertificateName[]).find((n) => derOf(n).equals(der));
  if (!hit) throw new Error('decoded a certificate that is not one of the vector certificates');
  return hit;
}

function errorCode(err: unknown): string {
  if (isCountersignError(err)) return err.code;
  throw err;
}

/** What the codec does with an encode case (the expectation the file records). */
export function runEncode(c: Omit<EncodeCase, 'expect'>): EncodeCase['expect'] {
  try {
    const headers = IDENTITY_HEADER_CODECS[c.format].encoder(c.options)({ der: derOf(c.certificate), chain: c.chain.map(derOf) });
    return { headers };
  } catch (err) {
    return { error: errorCode(err) };
  }
}

/** What the codec does with a decode case. */
export function runDecode(c: Omit<DecodeCase, 'expect'>): DecodeCase['expect'] {
  const req: HeaderSource = { headers: {}, headersDistinct: c.headers };
  for (const [k, v] of Object.entries(c.headers)) req.headers[k] = v.length === 1 ? v[0] : v;
  try {
    const got = IDENTITY_HEADER_CODECS[c.format].decode(req, c.headerName);
    if (got === undefined) return { absent: true };
    if ('der' in got) return { certificate: nameOf(got.der), chain: got.chain.map(nameOf) };
    return { user: got.user, groups: got.groups };
  } catch (err) {
    return { error: errorCode(err) };
  }
}

/** Header lines as a backend receives them, from an encoder's output (names lower-cased, a list one line a value). */
function received(headers: Record<string, string | string[]>): Record<string, string[]> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), Array.isArray(v) ? v : [v]]));
}

export function buildIdentityHeaderVectors(): IdentityHeaderVectors {
  const encodeDrafts: Omit<EncodeCase, 'expect'>[] = [];
  for (const format of IDENTITY_HEADER_FORMATS) {
    encodeDrafts.push(
      { name: `${format}-leaf-with-chain`, format, certificate: 'leaf', chain: ['intermediate'], options: {} },
      { name: `${format}-alice`, format, certificate: 'alice', chain: [], options: {} },
      { name: `${format}-renamed`, format, certificate: 'alice', chain: [], options: { headerName: 'X-Client-Identity' } },
      { name: `${format}-bad-header-name`, format, certificate: 'alice', chain: [], options: { headerName: 'bad header' } },
      { name: `${format}-by`, format, certificate: 'alice', chain: [], options: { by: 'spiffe://example.org/countersign' } },
    );
  }
  encodeDrafts.push(
    { name: 'xfcc-by-with-delimiters', format: 'xfcc', certificate: 'leaf', chain: [], options: { by: 'spiffe://example.org/a;b,c' } },
    { name: 'xfcc-by-control-character', format: 'xfcc', certificate: 'leaf', chain: [], options: { by: 'spiffe://x\n' } },
  );
  const encode = encodeDrafts.map((c) => ({ ...c, expect: runEncode(c) }));

  // every successful encoding, read back
  const decodeDrafts: Omit<DecodeCase, 'expect'>[] = [];
  for (const c of encode) {
    if (!('headers' in c.expect)) continue;
    const renamed = c.options.headerName?.toLowerCase();
    decodeDrafts.push({ name: `${c.name}-read-back`, format: c.format, ...(renamed ? { headerName: renamed } : {}), headers: received(c.expect.headers) });
  }
  const alice = (encode.find((c) => c.name === 'kes-alice')!.expect as { headers: Record<string, string> }).headers['X-Tls-Client-Cert'];
  const leafEscaped = (encode.find((c) => c.name === 'kes-leaf-with-chain')!.expect as { headers: Record<string, string> }).headers['X-Tls-Client-Cert'];
  const b64 = (n: CertificateName) => derOf(n).toString('base64');
  const xfccAlice = (encode.find((c) => c.name === 'xfcc-alice')!.expect as { headers: Record<string, string> }).headers['X-Forwarded-Client-Cert'];
  const xfccLeaf = (encode.find((c) => c.name === 'xfcc-leaf-with-chain')!.expect as { headers: Record<string, string> }).headers['X-Forwarded-Client-Cert'];
  decodeDrafts.push(
    // kes / nginx
    { name: 'kes-absent', format: 'kes', headers: { 'client-cert': [`:${b64('alice')}:`] } },
    { name: 'kes-twice', format: 'kes', headers: { 'x-tls-client-cert': [alice, alice] } },
    { name: 'kes-bad-percent-encoding', format: 'kes', headers: { 'x-tls-client-cert': [alice.replace('%0A', '%0G')] } },
    { name: 'kes-not-pem', format: 'kes', headers: { 'x-tls-client-cert': ['hello%20world'] } },
    { name: 'kes-two-certificates', format: 'kes', headers: { 'x-tls-client-cert': [alice + alice] } },
    { name: 'kes-unescaped-pem', format: 'kes', headers: { 'x-tls-client-cert': [decodeURIComponent(alice).replaceAll('\n', ' ')] } },
    { name: 'nginx-renamed-read-from-default', format: 'nginx', headers: { 'x-client-identity': [alice] } },
    { name: 'nginx-chain-in-the-value', format: 'nginx', headerName: 'ssl-client-cert', headers: { 'ssl-client-cert': [leafEscaped + alice] } },
    { name: 'nginx-surrounding-space', format: 'nginx', headers: { 'x-tls-client-cert': [` ${alice} `] } },
    // rfc9440
    { name: 'rfc9440-unpadded', format: 'rfc9440', headers: { 'client-cert': [`:${b64('alice').replace(/=+$/, '')}:`] } },
    { name: 'rfc9440-parameters-ignored', format: 'rfc9440', headers: { 'client-cert': [`:${b64('alice')}:;a=1;b`] } },
    { name: 'rfc9440-chain-over-two-lines', format: 'rfc9440', headers: { 'client-cert': [`:${b64('leaf')}:`], 'client-cert-chain': [`:${b64('intermediate')}:`, `:${b64('goldenCa')}:`] } },
    { name: 'rfc9440-no-colons', format: 'rfc9440', headers: { 'client-cert': [b64('alice')] } },
    { name: 'rfc9440-empty', format: 'rfc9440', headers: { 'client-cert': ['::'] } },
    { name: 'rfc9440-impossible-length', format: 'rfc9440', headers: { 'client-cert': [':AAAAA:'] } },
    { name: 'rfc9440-twice', format: 'rfc9440', headers: { 'client-cert': [`:${b64('alice')}:`, `:${b64('alice')}:`] } },
    { name: 'rfc9440-empty-chain-member', format: 'rfc9440', headers: { 'client-cert': [`:${b64('alice')}:`], 'client-cert-chain': [`:${b64('goldenCa')}:,,`] } },
    // xfcc
    { name: 'xfcc-last-element-wins', format: 'xfcc', headers: { 'x-forwarded-client-cert': [`${xfccLeaf},${xfccAlice}`] } },
    { name: 'xfcc-elements-over-two-lines', format: 'xfcc', headers: { 'x-forwarded-client-cert': [xfccAlice, xfccLeaf] } },
    { name: 'xfcc-no-cert', format: 'xfcc', headers: { 'x-forwarded-client-cert': ['By=spiffe://a;Hash=00;Subject="CN=x"'] } },
    { name: 'xfcc-hash-mismatch', format: 'xfcc', headers: { 'x-forwarded-client-cert': [xfccAlice.replace(/Hash=[0-9a-f]+/, `Hash=${'0'.repeat(64)}`)] } },
    { name: 'xfcc-unterminated-quote', format: 'xfcc', headers: { 'x-forwarded-client-cert': [`Cert="${alice}`] } },
    { name: 'xfcc-bare-quote', format: 'xfcc', headers: { 'x-forwarded-client-cert': [`Cert=a"b`] } },
    { name: 'xfcc-no-key', format: 'xfcc', headers: { 'x-forwarded-client-cert': [`=${alice}`] } },
    { name: 'xfcc-cert-unquoted', format: 'xfcc', headers: { 'x-forwarded-client-cert': [`Cert=${alice}`] } },
    { name: 'xfcc-keys-any-case', format: 'xfcc', headers: { 'x-forwarded-client-cert': [`cErT="${alice}"`] } },
    // k8s-front-proxy
    { name: 'k8s-utf8-user-and-groups', format: 'k8s-front-proxy', headers: { 'x-remote-user': [Buffer.from('jürgen', 'utf8').toString('latin1')], 'x-remote-group': ['ops', Buffer.from('grüne', 'utf8').toString('latin1')] } },
    { name: 'k8s-no-groups', format: 'k8s-front-proxy', headers: { 'x-remote-user': ['alice'] } },
    { name: 'k8s-user-twice', format: 'k8s-front-proxy', headers: { 'x-remote-user': ['alice', 'bob'] } },
    { name: 'k8s-user-empty', format: 'k8s-front-proxy', headers: { 'x-remote-user': [''] } },
    { name: 'k8s-user-not-utf8', format: 'k8s-front-proxy', headers: { 'x-remote-user': ['\xff\xfe'] } },
    { name: 'k8s-absent', format: 'k8s-front-proxy', headers: { 'x-remote-group': ['ops'] } },
  );
  const decode = decodeDrafts.map((c) => ({ ...c, expect: runDecode(c) }));

  return {
    comment: 'Generated by test/vectors/generate-identity-headers.ts (npm run vectors) from src/identity-headers/; fixed inputs, so regenerating gives the same file. Read by test/unit/identity-header-vectors.test.ts. Header names in encode are as written; in decode, lower case as received, one array entry a header line.',
    formats: IDENTITY_HEADER_FORMATS,
    defaultHeaderNames: Object.fromEntries(IDENTITY_HEADER_FORMATS.map((f) => [f, IDENTITY_HEADER_CODECS[f].defaultHeaderName])) as Record<IdentityHeaderFormat, string>,
    certificates: VECTOR_CERTIFICATES,
    encode,
    decode,
  };
}
