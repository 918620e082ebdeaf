import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isCountersignError } from '../../src/errors.js';
import {
  DELEGATION_OID, decodeDelegationExtension, encodeDelegationExtension, nameToString, type DelegationExtension,
} from '../../src/delegation/extension-codec.js';
import { oid, seq, tlv, TAG } from '../../src/pki/der.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// CN=alice and CN=ca, written out by hand rather than by the encoder under test
const SUBJECT = hex('3010 310e 300c 0603 550403 0c05 616c696365');
const ISSUER = hex('300d 310b 3009 0603 550403 0c02 6361');

const FIELDS: DelegationExtension = {
  version: 1,
  certSha256: Buffer.alloc(32, 0x11),
  spkiSha256: Buffer.alloc(32, 0x22),
  certSha1: Buffer.alloc(20, 0x33),
  subject: SUBJECT,
  issuer: ISSUER,
  serial: hex('0102'),
  notAfter: new Date('2030-01-02T03:04:05Z'),
  namesVouched: false,
};

const GOLDEN = hex(
  '308193' +
  '020101' +
  '0420' + '11'.repeat(32) +
  '0420' + '22'.repeat(32) +
  '0414' + '33'.repeat(20) +
  '3010310e300c06035504030c05616c696365' +
  '300d310b300906035504030c026361' +
  '02020102' +
  '180f' + '32303330303130323033303430355a', // "20300102030405Z"
);

// the same with certificate [0] IMPLICIT OCTET STRING = 30 03 02 01 05
const GOLDEN_EMBEDDED = Buffer.concat([hex('30819a'), GOLDEN.subarray(3), hex('8005 3003020105')]);

// version 2: namesVouched BOOLEAN after notAfter (01 01 FF: TRUE), then the optional certificate
const GOLDEN_V2 = Buffer.concat([hex('308196 020102'), GOLDEN.subarray(6), hex('0101ff')]);
const GOLDEN_V2_UNVOUCHED_EMBEDDED = Buffer.concat([hex('30819d 020102'), GOLDEN.subarray(6), hex('010100'), hex('8005 3003020105')]);

function expectCode(fn: () => unknown, code: 'ERR_DELEGATION_EXTENSION_MALFORMED' | 'ERR_DELEGATION_EXTENSION_VERSION', message?: RegExp) {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isCountersignError(err, code), `expected ${code}, got ${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`);
    if (message) assert.match(err.message, message);
    return true;
  });
}

test('the OID is the documented UUID-derived arc', () => {
  assert.equal(DELEGATION_OID, '1.2.840.113556.1.8000.2554.52765.56834.36689.18876.35599.6052605.1115151.1');
});

test('golden vector: fields encode to the exact DER', () => {
  assert.equal(encodeDelegationExtension(FIELDS).toString('hex'), GOLDEN.toString('hex'));
});

test('golden vector: the embedded original certificate is appended as [0] IMPLICIT', () => {
  const out = encodeDelegationExtension({ ...FIELDS, certificate: hex('3003020105') });
  assert.equal(out.toString('hex'), GOLDEN_EMBEDDED.toString('hex'));
});

test('golden vector: known DER decodes to the fields', () => {
  const d = decodeDelegationExtension(GOLDEN);
  assert.equal(d.version, 1);
  assert.deepEqual(d.certSha256, Buffer.alloc(32, 0x11));
  assert.deepEqual(d.spkiSha256, Buffer.alloc(32, 0x22));
  assert.deepEqual(d.certSha1, Buffer.alloc(20, 0x33));
  assert.deepEqual(d.subject, SUBJECT);
  assert.deepEqual(d.issuer, ISSUER);
  assert.deepEqual(d.serial, hex('0102'));
  assert.equal(d.notAfter.toISOString(), '2030-01-02T03:04:05.000Z');
  assert.equal(d.certificate, undefined);
  assert.equal(nameToString(d.subject), 'CN=alice');
  assert.equal(nameToString(d.issuer), 'CN=ca');
});

test('golden vector: the embedded certificate decodes', () => {
  assert.deepEqual(decodeDelegationExtension(GOLDEN_EMBEDDED).certificate, hex('3003020105'));
});

test('a version 1 extension (a proxy before namesVouched) is read as names not vouched for', () => {
  assert.equal(decodeDelegationExtension(GOLDEN).namesVouched, false);
  assert.throws(() => encodeDelegationExtension({ ...FIELDS, namesVouched: true }), RangeError, 'v1 cannot say vouched');
});

test('golden vector v2: namesVouched is a BOOLEAN after notAfter, before the certificate', () => {
  assert.equal(encodeDelegationExtension({ ...FIELDS, version: 2, namesVouched: true }).toString('hex'), GOLDEN_V2.toString('hex'));
  const v2 = { ...FIELDS, version: 2 as const, namesVouched: false, certificate: hex('3003020105') };
  assert.equal(encodeDelegationExtension(v2).toString('hex'), GOLDEN_V2_UNVOUCHED_EMBEDDED.toString('hex'));
  const d = decodeDelegationExtension(GOLDEN_V2);
  assert.equal(d.version, 2);
  assert.equal(d.namesVouched, true);
  assert.deepEqual(d.subject, SUBJECT);
  assert.deepEqual(decodeDelegationExtension(GOLDEN_V2_UNVOUCHED_EMBEDDED), v2);
});

test('v2: namesVouched must be there, a DER BOOLEAN, once, before the certificate; v1 must not have it', () => {
  const body = GOLDEN.subarray(6); // the fields after the version
  const v = (version: number, ...tail: string[]) => seq(tlv(TAG.INTEGER, Buffer.from([version])), body, ...tail.map(hex));
  expectCode(() => decodeDelegationExtension(v(2)), 'ERR_DELEGATION_EXTENSION_MALFORMED', /version 2 has 9 or 10 fields, found 8/);
  expectCode(() => decodeDelegationExtension(v(2, '8005 3003020105')), 'ERR_DELEGATION_EXTENSION_MALFORMED', /namesVouched/);
  expectCode(() => decodeDelegationExtension(v(2, '010101')), 'ERR_DELEGATION_EXTENSION_MALFORMED', /DER BOOLEAN/);
  expectCode(() => decodeDelegationExtension(v(2, '010200ff')), 'ERR_DELEGATION_EXTENSION_MALFORMED', /DER BOOLEAN/);
  expectCode(() => decodeDelegationExtension(v(2, '0100')), 'ERR_DELEGATION_EXTENSION_MALFORMED', /DER BOOLEAN/);
  expectCode(() => decodeDelegationExtension(v(2, '020101')), 'ERR_DELEGATION_EXTENSION_MALFORMED', /namesVouched/);
  expectCode(() => decodeDelegationExtension(v(2, '8005 3003020105', '0101ff')), 'ERR_DELEGATION_EXTENSION_MALFORMED');
  expectCode(() => decodeDelegationExtension(v(2, '0101ff', '0101ff')), 'ERR_DELEGATION_EXTENSION_MALFORMED', /certificate/);
  expectCode(() => decodeDelegationExtension(v(1, '0101ff')), 'ERR_DELEGATION_EXTENSION_MALFORMED', /certificate/);
});

test('an unknown version is rejected with ERR_DELEGATION_EXTENSION_VERSION, naming it', () => {
  const v3 = Buffer.from(GOLDEN_V2);
  v3[5] = 3; // 30 81 96 | 02 01 [02]
  expectCode(() => decodeDelegationExtension(v3), 'ERR_DELEGATION_EXTENSION_VERSION', /version 3 is not supported \(this library reads versions 1 and 2\)/);
});

test('a version 3 with a different layout still reports the version, not a malformed body', () => {
  // a future version may add fields: the version error must win so the message says "upgrade"
  const future = seq(tlv(TAG.INTEGER, Buffer.from([3])), tlv(TAG.OCTET_STRING, Buffer.alloc(3)));
  expectCode(() => decodeDelegationExtension(future), 'ERR_DELEGATION_EXTENSION_VERSION', /upgrade/);
});

test('a non-minimal version INTEGER is malformed DER, not an unknown version', () => {
  const body = GOLDEN.subarray(3 + 3); // after the SEQUENCE header and 02 01 01
  const nonMinimal = seq(hex('02020001'), body);
  expectCode(() => decodeDelegationExtension(nonMinimal), 'ERR_DELEGATION_EXTENSION_MALFORMED');
});

test('trailing bytes after the SEQUENCE are rejected', () => {
  expectCode(() => decodeDelegationExtension(Buffer.concat([GOLDEN, hex('00')])), 'ERR_DELEGATION_EXTENSION_MALFORMED', /trailing/);
});

test('every truncation of the golden vector is rejected', () => {
  for (let n = 0; n < GOLDEN.length; n++) {
    expectCode(() => decodeDelegationExtension(GOLDEN.subarray(0, n)), 'ERR_DELEGATION_EXTENSION_MALFORMED');
  }
});

test('a digest of the wrong length is rejected', () => {
  const short = seq(hex('020101'), tlv(TAG.OCTET_STRING, Buffer.alloc(31)), GOLDEN.subarray(3 + 3 + 34));
  expectCode(() => decodeDelegationExtension(short), 'ERR_DELEGATION_EXTENSION_MALFORMED', /certSha256 must be 32 bytes/);
});

test('a missing field is rejected', () => {
  const seven = seq(...[hex('020101'), tlv(TAG.OCTET_STRING, Buffer.alloc(32)), tlv(TAG.OCTET_STRING, Buffer.alloc(32)),
    tlv(TAG.OCTET_STRING, Buffer.alloc(20)), SUBJECT, ISSUER, hex('020101')]);
  expectCode(() => decodeDelegationExtension(seven), 'ERR_DELEGATION_EXTENSION_MALFORMED', /found 7/);
});

test('notAfter must be a GeneralizedTime, not a UTCTime', () => {
  const utc = Buffer.concat([GOLDEN.subarray(0, GOLDEN.length - 17), hex('170d'), Buffer.from('300102030405Z')]);
  utc[2] -= 2; // two bytes shorter
  expectCode(() => decodeDelegationExtension(utc), 'ERR_DELEGATION_EXTENSION_MALFORMED', /notAfter/);
});

test('the optional certificate must use the [0] IMPLICIT primitive tag', () => {
  const wrongTag = Buffer.from(GOLDEN_EMBEDDED);
  wrongTag[wrongTag.length - 7] = 0xa0; // constructed [0]
  expectCode(() => decodeDelegationExtension(wrongTag), 'ERR_DELEGATION_EXTENSION_MALFORMED', /certificate/);
});

test('something that is not a SEQUENCE is rejected', () => {
  expectCode(() => decodeDelegationExtension(hex('0403010203')), 'ERR_DELEGATION_EXTENSION_MALFORMED');
  expectCode(() => decodeDelegationExtension(hex('3000')), 'ERR_DELEGATION_EXTENSION_MALFORMED', /empty/);
});

test('the encoder refuses digests of the wrong length', () => {
  assert.throws(() => encodeDelegationExtension({ ...FIELDS, certSha1: Buffer.alloc(32) }), RangeError);
});

// ---- properties ----

const NAME_ATTRS = ['2.5.4.3', '2.5.4.10', '2.5.4.11', '2.5.4.6', '0.9.2342.19200300.100.1.25'];
const arbName = fc
  .array(fc.array(fc.tuple(fc.constantFrom(...NAME_ATTRS), fc.string({ maxLength: 40 })), { minLength: 1, maxLength: 2 }), { maxLength: 5 })
  .map((rdns) => seq(...rdns.map((atvs) => tlv(TAG.SET, ...atvs.map(([o, v]) => seq(oid(o), tlv(TAG.UTF8_STRING, Buffer.from(v, 'utf8'))))))));
const arbDate = fc
  .date({ min: new Date('0000-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true })
  .map((d) => new Date(Math.floor(d.getTime() / 1000) * 1000));
const arbExtension: fc.Arbitrary<DelegationExtension> = fc.record({
  version: fc.constantFrom(1 as const, 2 as const),
  certSha256: fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b)),
  spkiSha256: fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b)),
  certSha1: fc.uint8Array({ minLength: 20, maxLength: 20 }).map((b) => Buffer.from(b)),
  subject: arbName,
  issuer: arbName,
  serial: fc.uint8Array({ minLength: 1, maxLength: 20 }).map((b) => Buffer.from(b)),
  notAfter: arbDate,
  namesVouched: fc.boolean(),
  certificate: fc.option(fc.uint8Array({ minLength: 1, maxLength: 300 }).map((b) => Buffer.from(b)), { nil: undefined }),
}, { requiredKeys: ['version', 'certSha256', 'spkiSha256', 'certSha1', 'subject', 'issuer', 'serial', 'notAfter', 'namesVouched'] })
  // version 1 cannot say the names were vouched for
  .map((e) => (e.version === 1 ? { ...e, namesVouched: false } : e));

test('property: decode(encode(x)) equals x for any valid extension', () => {
  fc.assert(fc.property(arbExtension, (ext) => {
    const back = decodeDelegationExtension(encodeDelegationExtension(ext));
    const expected = { ...ext };
    if (expected.certificate === undefined) delete expected.certificate;
    assert.deepEqual(back, expected);
  }), { numRuns: 300 });
});

function decodesOrFailsCleanly(bytes: Uint8Array): void {
  try {
    decodeDelegationExtension(bytes);
  } catch (err) {
    if (isCountersignError(err, 'ERR_DELEGATION_EXTENSION_MALFORMED') || isCountersignError(err, 'ERR_DELEGATION_EXTENSION_VERSION')) return;
    throw err;
  }
}

test('property: random bytes never crash the decoder', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), decodesOrFailsCleanly), { numRuns: 2000 });
});

test('property: random bytes inside a SEQUENCE never crash the decoder', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => decodesOrFailsCleanly(seq(b))), { numRuns: 2000 });
});

test('property: a valid extension with one byte changed decodes or fails cleanly', () => {
  fc.assert(fc.property(arbExtension, fc.nat(), fc.integer({ min: 1, max: 255 }), (ext, at, xor) => {
    const bytes = Buffer.from(encodeDelegationExtension(ext));
    bytes[at % bytes.length] ^= xor;
    decodesOrFailsCleanly(bytes);
  }), { numRuns: 1000 });
});
