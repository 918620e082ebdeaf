/**
 * The PROXY protocol parser: what we build parses back to the same addresses
 * (v1 and v2, IPv4 and IPv6), every strict prefix of a valid header is
 * "incomplete", bytes after the header are left alone, and random or mutated
 * input either parses to a well-formed header or throws ERR_PROXY_PROTOCOL —
 * never anything else.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isIP } from 'node:net';
import fc from 'fast-check';
import { buildProxyHeader, parseProxyHeader, V1_MAX, V2_SIGNATURE } from '../../src/edge/proxy-protocol.js';
import { isCountersignError } from '../../src/errors.js';

const ipv4 = fc.ipV4();
const ipv6 = fc.ipV6().map((a) => new URL(`http://[${a}]/`).hostname.slice(1, -1)).filter((a) => !/^::ffff:\d/.test(a));
const port = fc.integer({ min: 0, max: 65535 });
const endpointPair = fc.oneof(
  fc.tuple(ipv4, port, ipv4, port),
  fc.tuple(ipv6, port, ipv6, port),
);
const version = fc.constantFrom('v1' as const, 'v2' as const);

test('build → parse round-trips addresses and ports, v1 and v2, IPv4 and IPv6', () => {
  fc.assert(fc.property(version, endpointPair, (v, [sa, sp, da, dp]) => {
    const b = buildProxyHeader(v, { address: sa, port: sp }, { address: da, port: dp });
    const h = parseProxyHeader(b);
    assert.ok(h);
    assert.equal(h.length, b.length);
    assert.equal(h.version, v === 'v1' ? 1 : 2);
    assert.equal(h.local, false);
    assert.deepEqual(h.source, { address: sa, port: sp });
    assert.deepEqual(h.destination, { address: da, port: dp });
  }));
});

test('every strict prefix of a valid header is incomplete (null), never an error', () => {
  fc.assert(fc.property(version, endpointPair, (v, [sa, sp, da, dp]) => {
    const b = buildProxyHeader(v, { address: sa, port: sp }, { address: da, port: dp });
    for (let i = 0; i < b.length; i++) assert.equal(parseProxyHeader(b.subarray(0, i)), null, `prefix ${i}`);
  }));
});

test('bytes after the header (the TLS ClientHello) are not part of it', () => {
  fc.assert(fc.property(version, endpointPair, fc.uint8Array({ minLength: 1, maxLength: 64 }), (v, [sa, sp, da, dp], tail) => {
    const b = buildProxyHeader(v, { address: sa, port: sp }, { address: da, port: dp });
    const h = parseProxyHeader(Buffer.concat([b, tail]));
    assert.equal(h?.length, b.length);
  }));
});

test('random bytes, and valid headers with one byte changed: a well-formed header or ERR_PROXY_PROTOCOL', () => {
  const mutated = fc.tuple(version, endpointPair, fc.nat(), fc.integer({ min: 0, max: 255 })).map(([v, [sa, sp, da, dp], i, byte]) => {
    const b = Buffer.from(buildProxyHeader(v, { address: sa, port: sp }, { address: da, port: dp }));
    b[i % b.length] = byte;
    return b;
  });
  const random = fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a));
  const v2ish = fc.uint8Array({ minLength: 4, maxLength: 300 }).map((a) => Buffer.concat([V2_SIGNATURE, Buffer.from(a)]));
  fc.assert(fc.property(fc.oneof(mutated, random, v2ish), (b) => {
    try {
      const h = parseProxyHeader(b);
      if (h && !h.local) {
        assert.ok(h.length <= b.length);
        assert.ok(isIP(h.source!.address) && isIP(h.destination!.address), JSON.stringify(h));
        assert.ok(h.source!.port >= 0 && h.source!.port <= 65535);
      }
    } catch (err) {
      assert.ok(isCountersignError(err, 'ERR_PROXY_PROTOCOL'), String(err));
    }
  }), { numRuns: 2000 });
});

test('v1: strict fields', () => {
  const bad = [
    'PROXY TCP4 1.2.3.4 5.6.7.8 80\r\n', // 5 fields
    'PROXY TCP4 1.2.3.4 ::1 80 443\r\n', // family mismatch
    'PROXY TCP4 1.2.3.999 5.6.7.8 80 443\r\n',
    'PROXY TCP4 1.2.3.4 5.6.7.8 080 443\r\n', // leading zero
    'PROXY TCP4 1.2.3.4 5.6.7.8 80 65536\r\n',
    'PROXY TCP5 1.2.3.4 5.6.7.8 80 443\r\n',
    'PROXY TCP4 1.2.3.4 5.6.7.8 80 443\n', // LF without CR
    `PROXY TCP6 ${'a'.repeat(V1_MAX)}\r\n`,
  ];
  for (const s of bad) assert.throws(() => parseProxyHeader(Buffer.from(s)), (e) => isCountersignError(e, 'ERR_PROXY_PROTOCOL'), s);
  assert.deepEqual(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n')), { version: 1, local: true, length: 15 });
});

test('v2: LOCAL is a health check (no address), a wrong version or a huge length is refused', () => {
  const local = buildProxyHeader('v2', undefined, undefined);
  assert.deepEqual(parseProxyHeader(local), { version: 2, local: true, length: 16 });
  const v3 = Buffer.from(local); v3[12] = 0x31;
  assert.throws(() => parseProxyHeader(v3), /version nibble is 3/);
  const huge = Buffer.from(local); huge.writeUInt16BE(60_000, 14);
  assert.throws(() => parseProxyHeader(huge), /exceeds/);
  const udp = Buffer.from(buildProxyHeader('v2', { address: '1.2.3.4', port: 1 }, { address: '5.6.7.8', port: 2 })); udp[13] = 0x12;
  assert.throws(() => parseProxyHeader(udp), /not STREAM/);
});
