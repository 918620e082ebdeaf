/**
 * Header lists for node:http2 (src/forward/http/h2-headers.ts): a raw list
 * where this Node takes one, else the same fields folded into an object.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type OutgoingHttpHeaders } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { http2Headers, RAW_REQUEST_HEADERS, RAW_RESPONSE_HEADERS } from '../../src/forward/http/h2-headers.js';

const LIST = [':status', '200', 'x-a', '1', 'content-type', 'application/grpc', 'x-a', '2'];

test('where raw lists are taken, the list goes as it is', () => {
  assert.equal(http2Headers(LIST, true), LIST);
});

test('on an older Node, the list is folded into an object: repeated names as arrays, in order', () => {
  assert.deepEqual(http2Headers(LIST, false), { ':status': '200', 'x-a': ['1', '2'], 'content-type': 'application/grpc' });
});

test('what this Node is given, it takes: a request and an answer with a repeated field arrive whole', async () => {
  const server = createServer();
  server.on('stream', (stream, _h, _f, raw: string[]) => {
    stream.respond(http2Headers([':status', '200', 'x-a', '1', 'x-a', '2', 'x-echo', raw.filter((_, i) => i % 2 === 0).join(',')], RAW_RESPONSE_HEADERS) as OutgoingHttpHeaders, { endStream: true });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const session = connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  try {
    const req = session.request(http2Headers([':method', 'GET', ':path', '/x', ':scheme', 'http', ':authority', 'a.test', 'x-b', '1', 'x-b', '2'], RAW_REQUEST_HEADERS) as OutgoingHttpHeaders, { endStream: true });
    const [, , raw] = await once(req, 'response') as [unknown, number, string[]];
    req.resume();
    const values = (name: string) => raw.flatMap((v, i) => (i % 2 === 1 && raw[i - 1] === name ? [v] : []));
    assert.deepEqual(values('x-a'), ['1', '2']);
    assert.deepEqual(values('x-echo'), [':method,:path,:scheme,:authority,x-b,x-b']);
  } finally {
    session.close();
    server.close();
  }
});
