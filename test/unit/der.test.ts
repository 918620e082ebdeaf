import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isCountersignError } from '../../src/errors.js';
import {
  TAG, decodeOid, decodeTime, generalizedTime, oid, readChildren, readRoot, readTlv, seq, smallInt, tlv, tlvLength, uint, writeHeader, x509Time,
} from '../../src/pki/der.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const derError = (fn: () => unknown, message: RegExp) =>
  assert.throws(fn, (err: unknown) => isCountersignError(err, 'ERR_DER_INVALID') && message.test(err.message));

test('lengths switch to the long form at 128 and round-trip through the reader', () => {
  for (const n of [0, 1, 127, 128, 255, 256, 65535, 65536]) {
    const el = tlv(TAG.OCTET_STRING, Buffer.alloc(n, 7));
    const header = n < 128 ? 2 : n < 256 ? 3 : n < 65536 ? 4 : 5;
    assert.equal(el.length, header + n, `length ${n}`);
    const t = readRoot(el, TAG.OCTET_STRING);
    assert.equal(t.contentStart, header);
    assert.equal(t.end - t.contentStart, n);
  }
  assert.deepEqual(tlv(TAG.OCTET_STRING, Buffer.alloc(128)).subarray(0, 3), hex('048180'));
});

test('writeHeader and tlvLength size and frame an element exactly as tlv() does', () => {
  for (const n of [0, 127, 128, 255, 256, 65535, 65536]) {
    const body = Buffer.alloc(n, 7);
    const out = Buffer.alloc(tlvLength(n));
    body.copy(out, writeHeader(out, 0, TAG.OCTET_STRING, n));
    assert.deepEqual(out, tlv(TAG.OCTET_STRING, body), `length ${n}`);
  }
});

test('the reader rejects indefinite, non-minimal and overlong lengths', () => {
  derError(() => readTlv(hex('3080 0000'), 0), /indefinite/);
  derError(() => readTlv(hex('0481 05 0102030405'), 0), /non-minimal/);
  derError(() => readTlv(hex('0482 0005 0102030405'), 0), /non-minimal/);
  derError(() => readTlv(hex('0485 0000000001 00'), 0), /too large/);
});

test('the reader rejects elements that run past their container and multi-byte tags', () => {
  derError(() => readTlv(hex('0405 0102'), 0), /runs past/);
  derError(() => readChildren(hex('3003 0405 00'), readTlv(hex('3003 0405 00'), 0)), /runs past|truncated/);
  derError(() => readTlv(hex('1f01 00'), 0), /multi-byte tag/);
});

test('readRoot rejects trailing bytes and an unexpected tag', () => {
  derError(() => readRoot(hex('0500 00')), /1 trailing bytes/);
  derError(() => readRoot(hex('0500'), TAG.SEQUENCE), /expected tag 0x30/);
});

test('OIDs encode as X.690 says and decode back, including arcs beyond 64 bits', () => {
  assert.equal(oid('1.2.840.10045.4.3.2').toString('hex'), '06082a8648ce3d040302');
  assert.equal(oid('2.5.29.19').toString('hex'), '0603551d13');
  const big = '2.25.273976046638333143125377024662248162319.1';
  const el = oid(big);
  assert.equal(decodeOid(el.subarray(2)), big);
  derError(() => decodeOid(hex('2a80 01')), /non-minimal/);
  derError(() => decodeOid(hex('2a86')), /truncated/);
});

test('unsigned INTEGERs get a leading zero only when the top bit is set, and lose redundant zeros', () => {
  assert.equal(uint(hex('7f')).toString('hex'), '02017f');
  assert.equal(uint(hex('80')).toString('hex'), '02020080');
  assert.equal(uint(hex('000001')).toString('hex'), '020101');
  assert.equal(smallInt(2).toString('hex'), '020102');
  assert.equal(smallInt(128).toString('hex'), '02020080');
  assert.throws(() => smallInt(-1), RangeError);
});

test('X.509 times are UTCTime through 2049 and GeneralizedTime from 2050 (RFC 5280 4.1.2.5)', () => {
  assert.equal(x509Time(new Date('2049-12-31T23:59:59Z')).toString('latin1').slice(2), '491231235959Z');
  assert.equal(x509Time(new Date('2049-12-31T23:59:59Z'))[0], TAG.UTC_TIME);
  const g = x509Time(new Date('2050-01-01T00:00:00Z'));
  assert.equal(g[0], TAG.GENERALIZED_TIME);
  assert.equal(g.toString('latin1').slice(2), '20500101000000Z');
});

test('property: encoded times carry the digits toISOString gives, and decode back', () => {
  const digits = (d: Date) => d.toISOString().slice(0, 19).replace(/[-:T]/g, '');
  const arbDate = fc
    .date({ min: new Date('0000-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true })
    .map((d) => new Date(Math.floor(d.getTime() / 1000) * 1000));
  fc.assert(fc.property(arbDate, (d) => {
    const g = generalizedTime(d);
    assert.equal(g.toString('latin1'), `\x18\x0f${digits(d)}Z`);
    const x = x509Time(d);
    const utc = d.getUTCFullYear() >= 1950 && d.getUTCFullYear() < 2050;
    assert.deepEqual(x, utc ? Buffer.from(`\x17\x0d${digits(d).slice(2)}Z`, 'latin1') : g);
    assert.equal(decodeTime(x[0], x.subarray(2)).getTime(), d.getTime());
  }), { numRuns: 1000 });
  assert.throws(() => x509Time(new Date(NaN)), RangeError);
  assert.throws(() => generalizedTime(new Date('+010000-01-01T00:00:00Z')), RangeError);
});

test('UTCTime years 50-99 are 1950-1999, GeneralizedTime years are taken as written', () => {
  assert.equal(decodeTime(TAG.UTC_TIME, Buffer.from('500101000000Z')).toISOString(), '1950-01-01T00:00:00.000Z');
  assert.equal(decodeTime(TAG.UTC_TIME, Buffer.from('491231235959Z')).toISOString(), '2049-12-31T23:59:59.000Z');
  assert.equal(decodeTime(TAG.GENERALIZED_TIME, Buffer.from('00990101000000Z')).toISOString(), '0099-01-01T00:00:00.000Z');
  derError(() => decodeTime(TAG.GENERALIZED_TIME, Buffer.from('20300102030405')), /malformed time/);
  derError(() => decodeTime(TAG.GENERALIZED_TIME, Buffer.from('20301302030405Z')), /invalid time|malformed/);
  derError(() => decodeTime(TAG.INTEGER, Buffer.from('1')), /expected a time/);
});

test('a SEQUENCE of children reads back in order', () => {
  const el = seq(smallInt(1), oid('2.5.4.3'), tlv(TAG.NULL));
  const kids = readChildren(el, readRoot(el, TAG.SEQUENCE));
  assert.deepEqual(kids.map((k) => k.tag), [TAG.INTEGER, TAG.OID, TAG.NULL]);
});
