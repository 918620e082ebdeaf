import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { formatDerName } from '../../src/pki/name-format.js';
import { parseCertificateFields } from '../../src/pki/x509-fields.js';
import { oid, seq, tlv, TAG } from '../../src/pki/der.js';
import { ALICE_PEM, GOLDEN_CA_PEM } from '../helpers/golden-certificates.js';

const atv = (o: string, tag: number, value: Buffer) => seq(oid(o), tlv(tag, value));
const rdn = (...atvs: Buffer[]) => tlv(TAG.SET, ...atvs);
const utf8 = (s: string) => Buffer.from(s, 'utf8');

test('RDNs print in encoding order with short names', () => {
  const name = seq(rdn(atv('2.5.4.6', 0x13, utf8('DE'))), rdn(atv('2.5.4.10', 0x0c, utf8('Example'))), rdn(atv('2.5.4.3', 0x0c, utf8('alice'))));
  assert.equal(formatDerName(name), 'C=DE, O=Example, CN=alice');
});

test('special characters are escaped as RFC 4514 says', () => {
  const name = seq(rdn(atv('2.5.4.10', 0x0c, utf8('Example, Inc. "A+B" <x>;\\'))), rdn(atv('2.5.4.3', 0x0c, utf8('#lead and trail '))));
  assert.equal(formatDerName(name), 'O=Example\\, Inc. \\"A\\+B\\" \\<x\\>\\;\\\\, CN=\\#lead and trail\\ ');
});

test('a multi-valued RDN joins its attributes with +', () => {
  const name = seq(rdn(atv('2.5.4.3', 0x0c, utf8('alice')), atv('0.9.2342.19200300.100.1.1', 0x0c, utf8('a1'))));
  assert.equal(formatDerName(name), 'CN=alice+UID=a1');
});

test('BMPString and UTF8String decode to text; unknown types print as #hex and unknown OIDs dotted', () => {
  const bmp = Buffer.from('Zoë', 'utf16le').swap16();
  const name = seq(rdn(atv('2.5.4.3', 0x1e, bmp)), rdn(atv('2.5.4.11', 0x0c, utf8('Größe'))), rdn(atv('1.2.3.4', 0x04, Buffer.from([0xab, 0xcd]))));
  assert.equal(formatDerName(name), 'CN=Zoë, OU=Größe, 1.2.3.4=#abcd');
});

test('an openssl-made certificate: same attributes and order as Node shows, in one line', () => {
  const der = new X509Certificate(ALICE_PEM).raw;
  const f = parseCertificateFields(der);
  assert.equal(formatDerName(f.subject), 'CN=alice+UID=a1, O=Example\\, Inc., OU=R&D');
  assert.equal(formatDerName(f.issuer), 'CN=golden CA');
  // Node puts " + " between the values of one RDN; everything else agrees
  assert.equal(new X509Certificate(ALICE_PEM).subject.split('\n').join(', ').replace(' + ', '+'), formatDerName(f.subject));
  assert.equal(formatDerName(parseCertificateFields(new X509Certificate(GOLDEN_CA_PEM).raw).subject), 'CN=golden CA');
});

test('an empty Name is the empty string', () => {
  assert.equal(formatDerName(seq()), '');
});
