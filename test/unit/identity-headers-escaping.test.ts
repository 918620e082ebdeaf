/**
 * The two text encodings identity headers depend on: nginx's URI-component
 * escaping (for $ssl_client_escaped_cert and XFCC Cert=) and OpenSSL's RFC 2253
 * name printing (for XFCC Subject=). Expected values come from nginx's source
 * and from the openssl CLI, never from the code under test.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { escapeUriComponentLikeNginx, nginxEscapesByte } from '../../src/identity-headers/nginx-uri-escape.js';
import { formatNameRfc2253 } from '../../src/identity-headers/openssl-rfc2253-name.js';
import { certificatesDer, der, parseCertificateFields } from '../../src/pki/index.js';
import { issueCertificate } from '../../src/pki/dev/index.js';

const exec = promisify(execFile);

// ---- nginx NGX_ESCAPE_URI_COMPONENT ---------------------------------------------

test('nginx escapes every byte except ALPHA, DIGIT, "-", ".", "_", "~"', () => {
  const unreserved = /^[A-Za-z0-9\-._~]$/;
  for (let b = 0; b < 256; b++) {
    const expected = b < 0x80 && unreserved.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
    assert.equal(escapeUriComponentLikeNginx(Buffer.from([b])), expected, `byte 0x${b.toString(16)}`);
    assert.equal(nginxEscapesByte(b), expected.length === 3);
  }
});

test('where nginx differs from encodeURIComponent: ! * \' ( ) are escaped', () => {
  assert.equal(escapeUriComponentLikeNginx("!*'()"), '%21%2A%27%28%29');
  assert.notEqual(escapeUriComponentLikeNginx("!*'()"), encodeURIComponent("!*'()"));
});

test('hex digits are upper case and a string is escaped as its UTF-8 bytes', () => {
  assert.equal(escapeUriComponentLikeNginx('é/+= \n~'), '%C3%A9%2F%2B%3D%20%0A~');
});

test('a PEM armour line comes out as nginx writes it', () => {
  assert.equal(escapeUriComponentLikeNginx('-----BEGIN CERTIFICATE-----\n'), '-----BEGIN%20CERTIFICATE-----%0A');
});

// ---- OpenSSL XN_FLAG_RFC2253 --------------------------------------------------------

const { oid, seq, tlv } = der;
/** A Name from [oid, tag, content bytes][] RDNs (an inner array is a multi-valued RDN). */
function name(...rdns: [string, number, Buffer][][]): Buffer {
  return seq(...rdns.map((atvs) => tlv(0x31, ...atvs.map(([o, tag, body]) => seq(oid(o), tlv(tag, body))))));
}
const CN = '2.5.4.3';
const O = '2.5.4.10';
const OU = '2.5.4.11';
const utf8 = (s: string) => Buffer.from(s, 'utf8');
const hex = (s: string) => Buffer.from(s, 'hex');

// Expected strings: `openssl x509 -noout -subject -nameopt RFC2253` (OpenSSL 3.0) on certificates with these names.
const GOLDEN: [string, Buffer, string][] = [
  ['reverse order, no spaces', name([[CN, 0x0c, utf8('alice')]], [[O, 0x0c, utf8('Example')]]), 'O=Example,CN=alice'],
  ['multi-valued RDN reversed too', name([[OU, 0x0c, utf8('a')], [CN, 0x0c, utf8('b')]]), 'CN=b+OU=a'],
  ['RFC 2253 specials', name([[CN, 0x0c, utf8('a,b+c"d\\e<f>g;h=i')]]), 'CN=a\\,b\\+c\\"d\\\\e\\<f\\>g\\;h=i'],
  ['leading "#" and leading/trailing spaces', name([[CN, 0x0c, utf8('# x ')]]), 'CN=\\# x\\ '],
  ['a lone "#" is bare, a lone space escaped', name([[CN, 0x0c, utf8('#')]], [[OU, 0x0c, utf8(' ')]]), 'OU=\\ ,CN=#'],
  ['UTF-8 bytes as \\XX', name([[CN, 0x0c, utf8('é café')]]), 'CN=\\C3\\A9 caf\\C3\\A9'],
  ['control characters as \\XX', name([[CN, 0x0c, Buffer.from('tab\there\x7f', 'latin1')]]), 'CN=tab\\09here\\7F'],
  ['BMPString converted to UTF-8', name([[CN, 0x1e, hex('00e90041')]]), 'CN=\\C3\\A9A'],
  ['T61String as Latin-1', name([[CN, 0x14, hex('e96120')]]), 'CN=\\C3\\A9a\\ '],
  ['UniversalString as UCS-4', name([[CN, 0x1c, hex('000000e90000f600')]]), 'CN=\\C3\\A9\\EF\\98\\80'],
  ['unknown attribute: dotted OID and #DER', name([['1.2.3.4', 0x0c, utf8('xyz')]], [[O, 0x0c, utf8('x')]]), 'O=x,1.2.3.4=#0C0378797A'],
  ['empty value', name([[CN, 0x0c, Buffer.alloc(0)]]), 'CN='],
  ['empty name', seq(), ''],
  ['short names', name([['1.2.840.113549.1.9.1', 0x16, utf8('a@b.c')]], [['0.9.2342.19200300.100.1.25', 0x16, utf8('example')]], [['2.5.4.5', 0x13, utf8('123')]]), 'serialNumber=123,DC=example,emailAddress=a@b.c'],
];

for (const [what, der, expected] of GOLDEN) {
  test(`RFC 2253 golden: ${what}`, () => assert.equal(formatNameRfc2253(der), expected));
}

test('malformed Name DER is refused with ERR_DER_INVALID', () => {
  assert.throws(() => formatNameRfc2253(hex('3005310330')), { code: 'ERR_DER_INVALID' });
});

/** openssl's own rendering of a certificate file's subject. */
async function opensslSubject(certPath: string): Promise<string> {
  const { stdout } = await exec('openssl', ['x509', '-in', certPath, '-noout', '-subject', '-nameopt', 'RFC2253']);
  return stdout.replace(/^subject=/, '').replace(/\n$/, '');
}

test('matches the openssl CLI on certificates openssl itself made', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'countersign-rfc2253-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const key = join(dir, 'k.pem');
  await exec('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key]);
  const masks = ['utf8only', 'default', 'nombstr'];
  for (const m of masks) await writeFile(join(dir, `${m}.cnf`), `[req]\ndistinguished_name=dn\nstring_mask=${m}\nutf8=yes\n[dn]\n`);
  const cases: [string, string][] = [
    ['utf8only', '/C=DE/O=Müller \\+ Söhne, "GmbH"/OU=a=b+OU=team one/CN=alice smith'],
    ['default', '/CN=é café/O=日本'],
    ['default', '/CN= lead space /OU=#hash/OU=a\\\\b<c>;d'],
    ['utf8only', '/CN=#/OU= '],
    ['utf8only', '/serialNumber=123/emailAddress=a@b.c/DC=example/UID=u1/street=Main St/postalCode=123/title=boss/GN=Al/SN=Sm/L=Köln/ST=NRW/pseudonym=p/initials=AS/description=d/businessCategory=b/dnQualifier=q/name=n/generationQualifier=Jr'],
    ['utf8only', '/organizationIdentifier=VATDE-123/jurisdictionC=DE/jurisdictionST=NRW/jurisdictionL=Köln/role=r/x500UniqueIdentifier=u/unstructuredName=un'],
    ['utf8only', '/CN=tab\there'],
    ['nombstr', '/CN=\x7f\x01x'],
    ['utf8only', '/CN=a+OU=b+O=c/C=DE'],
  ];
  for (const [i, [mask, subject]] of cases.entries()) {
    const cert = join(dir, `c${i}.pem`);
    await exec('openssl', ['req', '-x509', '-key', key, '-out', cert, '-days', '1', '-config', join(dir, `${mask}.cnf`), '-utf8', '-multivalue-rdn', '-subj', subject]);
    const derBytes = certificatesDer(await readFile(cert))[0];
    assert.equal(formatNameRfc2253(parseCertificateFields(derBytes).subject), await opensslSubject(cert), subject);
  }
});

test('matches the openssl CLI on certificates with hand-typed string types', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'countersign-rfc2253-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  // "#<hex DER>" values keep their ASN.1 string type (BMP, T61, Universal, Printable)
  const subjects = ['CN=#1e0400e90041', 'CN=#1403e96120', 'CN=#1c08000000e90000f600', 'CN=#13022b23', '1.2.3.4=#0c0378797a, O=x'];
  for (const [i, subject] of subjects.entries()) {
    const c = await issueCertificate({ subject });
    const path = join(dir, `c${i}.pem`);
    await writeFile(path, c.certPem);
    assert.equal(formatNameRfc2253(parseCertificateFields(c.cert.raw).subject), await opensslSubject(path), subject);
  }
});
