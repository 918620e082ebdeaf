import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CLIENT_PROTOCOL_41, CLIENT_SSL, errPacket, greetingWithSsl, isSslRequest, packet, parseErr, parseGreeting, readPacket, sslRequestFor,
  type MysqlGreeting,
} from '../../src/edge/mysql-wire.js';
import { infoWithTlsRequired, natsErr, offersTls, parseInfo, readLine } from '../../src/edge/nats-wire.js';
import { CountersignError } from '../../src/errors.js';

/** MariaDB 10.11's greeting as captured from mariadbd (protocol 10, scramble, mysql_native_password), with CLIENT_SSL cleared. */
const GREETING = Buffer.from(
  '640000000a352e352e352d31302e31312e31392d4d6172696144422d302b646562313275310004000000427549497227634100'
  + 'fef7080200ff81150000000000001d0000005b28544c5f796262446b7072006d7973716c5f6e61746976655f70617373776f726400', 'hex');

test('a MySQL packet is read whole, the rest left; a first packet too large to be a greeting is refused', () => {
  const two = Buffer.concat([GREETING, Buffer.from([1, 2])]);
  const r = readPacket(two)!;
  assert.equal(r.consumed, GREETING.length);
  assert.equal(r.value.seq, 0);
  assert.equal(readPacket(GREETING.subarray(0, 20)), null);
  assert.throws(() => readPacket(Buffer.from([0xff, 0xff, 0xff, 0])), (e: unknown) => e instanceof CountersignError && e.code === 'ERR_EDGE_PREAMBLE');
});

test('the greeting: version, capabilities, charset; CLIENT_SSL set and nothing else changed', () => {
  const g = parseGreeting(readPacket(GREETING)!.value, 'test') as MysqlGreeting;
  assert.equal(g.serverVersion, '5.5.5-10.11.19-MariaDB-0+deb12u1');
  assert.equal(g.capabilities & CLIENT_SSL, 0);
  assert.ok(g.capabilities & CLIENT_PROTOCOL_41);
  assert.equal(g.charset, 8);
  const withSsl = greetingWithSsl(g);
  const again = parseGreeting(readPacket(withSsl)!.value, 'test') as MysqlGreeting;
  assert.ok(again.capabilities & CLIENT_SSL);
  assert.equal(again.capabilities, (g.capabilities | CLIENT_SSL) >>> 0);
  const differing = [...withSsl].flatMap((b, i) => (b !== GREETING[i] ? [i] : []));
  assert.deepEqual(differing, [4 + g.capabilitiesAt + 1], 'one byte differs: the high byte of the lower capability flags (the scramble is intact)');
});

test('an ERR packet instead of a greeting is returned as the server\'s error; anything else is not MySQL', () => {
  const blocked = errPacket(0, { code: 1129, sqlState: 'HY000', message: "Host '10.0.0.5' is blocked" });
  assert.deepEqual(parseGreeting(readPacket(blocked)!.value, 'test'), { error: { code: 1129, sqlState: 'HY000', message: "Host '10.0.0.5' is blocked" } });
  assert.deepEqual(parseErr(Buffer.from([0xff, 0x10, 0x04, 0x54, 0x6f, 0x6f])), { code: 1040, message: 'Too' });
  assert.throws(() => parseGreeting(readPacket(packet(0, Buffer.from('HTTP/1.1 400')))!.value, 'upstream x'), /upstream x: its first packet is not a MySQL handshake/);
});

test('an SSLRequest is 32 bytes with CLIENT_SSL and 4.1; countersign\'s own stays within the server\'s capabilities', () => {
  const g = parseGreeting(readPacket(greetingWithSsl(parseGreeting(readPacket(GREETING)!.value, 't') as MysqlGreeting))!.value, 't') as MysqlGreeting;
  const req = readPacket(sslRequestFor(g))!.value;
  assert.equal(req.seq, 1);
  assert.ok(isSslRequest(req));
  assert.equal(req.payload.readUInt32LE(0) & ~g.capabilities, 0);
  const response = readPacket(packet(1, Buffer.concat([Buffer.alloc(4, 0), Buffer.alloc(60, 1)])))!.value;
  assert.equal(isSslRequest(response), false, 'a HandshakeResponse without TLS');
});

test('NATS: the INFO line is relayed as it is when it says tls_required, else with tls_required set', () => {
  const info = Buffer.from('INFO {"server_id":"N1","tls_required":true,"nonce":"abc"} \r\n');
  assert.equal(readLine(100)(Buffer.concat([info, Buffer.from('x')]))!.consumed, info.length);
  assert.equal(readLine(100)(info.subarray(0, 10)), null);
  const parsed = parseInfo(info, 'u');
  assert.ok(offersTls(parsed));
  assert.equal(infoWithTlsRequired(parsed), info, 'byte for byte');
  const available = parseInfo(Buffer.from('INFO {"server_id":"N2","tls_available":true,"nonce":"n"}\r\n'), 'u');
  assert.ok(offersTls(available));
  assert.deepEqual(JSON.parse(infoWithTlsRequired(available).toString().slice(5)), { server_id: 'N2', tls_available: true, nonce: 'n', tls_required: true });
  assert.equal(offersTls(parseInfo(Buffer.from('INFO {"server_id":"N3"}\r\n'), 'u')), false);
});

test('NATS: an -ERR or anything but INFO is named; errors are written as nats-server writes them', () => {
  assert.throws(() => parseInfo(Buffer.from("-ERR 'maximum connections exceeded'\r\n"), 'upstream n'), /upstream n: it said -ERR 'maximum connections exceeded'/);
  assert.throws(() => parseInfo(Buffer.from('SSH-2.0-OpenSSH\r\n'), 'upstream n'), /its first line is not INFO/);
  assert.throws(() => parseInfo(Buffer.from('INFO {oops}\r\n'), 'upstream n'), /INFO is not JSON/);
  assert.throws(() => readLine(8)(Buffer.alloc(20, 0x41)), /without a line end/);
  assert.equal(natsErr("Secure Connection - TLS Required").toString(), "-ERR 'Secure Connection - TLS Required'\r\n");
});
