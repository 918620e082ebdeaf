/**
 * HTTP/2 smuggling corpus: requests an HTTP/2 client can write that an
 * HTTP/1.1 backend behind a proxy may read as two, or as something else
 * (the h2-to-h1 downgrade: CR/LF/NUL in names and values, connection-specific
 * fields such as Transfer-Encoding, a Content-Length the DATA contradicts,
 * upper-case names, pseudo-headers out of order or twice, odd targets and
 * authorities). They are sent exactly as written by a real HTTP/2 client with
 * its validation off (Python's h2, test/helpers/h2-raw-client.py), one
 * connection each, to http mode in front of a real HTTP/1.1 backend. For
 * every case: it is answered or refused as listed, and the backend never
 * receives a request that was not sent (`/smuggled`), a field with CR, LF or
 * NUL, or a whole body other than the one sent (a request whose body the
 * client broke is cut upstream, never completed).
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { makePki, writeConfig, startProxyProcess, baseConfig, REPO_ROOT, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startHttpsBackend, type HttpsBackend } from '../helpers/node-backend.js';
import { runCommand } from '../helpers/run-command.js';

let pki: TestPki;
let backend: HttpsBackend;
let proxy: ProxyProcess;

before(async () => {
  pki = await makePki();
  backend = await startHttpsBackend({ pkiDir: pki.dir });
  proxy = await startProxyProcess(await writeConfig(pki.dir, { ...baseConfig(pki.dir, backend.port, { mode: 'http' }), timeouts: { request: '3s' } }));
});
after(async () => { await proxy?.stop(); await backend?.close(); });

type Headers = [string, string][];
interface Case { name: string; headers: Headers; data?: string[]; endStream?: boolean; expect: 'forwarded' | 'dropped' | number | 'reset' }
interface Result { status: number | null; body: string; reset: number | null; goaway: number | null; closed: boolean; sendError?: string; protocolError?: string }

const req = (path = '/a', extra: Headers = [], method = 'GET'): Headers => [[':method', method], [':path', path], [':scheme', 'https'], [':authority', 'localhost'], ...extra];
const SMUGGLED = 'GET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n';

/**
 * expect: forwarded (the backend gets it whole, as sent); dropped (forwarded
 * without the malformed field: nghttp2, under Node's http2, ignores a regular
 * field whose name or value has a character HTTP/2 forbids rather than reset
 * the stream — either way, it never reaches the backend); a status the proxy
 * answers; or a reset (RST_STREAM / GOAWAY: nghttp2 refuses the message).
 */
const CORPUS: Case[] = [
  { name: 'plain GET', headers: req(), expect: 'forwarded' },
  { name: 'POST with a matching Content-Length', headers: req('/a', [['content-length', '5']], 'POST'), data: ['hello'], expect: 'forwarded' },
  { name: 'POST without Content-Length', headers: req('/a', [], 'POST'), data: ['hel', 'lo'], expect: 'forwarded' },
  { name: 'Content-Length shorter than the DATA', headers: req('/a', [['content-length', '5']], 'POST'), data: ['hello', SMUGGLED], expect: 'reset' },
  { name: 'Content-Length longer than the DATA', headers: req('/a', [['content-length', '50']], 'POST'), data: ['hello'], expect: 'reset' },
  { name: 'Content-Length with END_STREAM on HEADERS', headers: req('/a', [['content-length', '5']], 'POST'), expect: 'reset' },
  { name: 'Transfer-Encoding: chunked with a smuggled request in the body', headers: req('/a', [['transfer-encoding', 'chunked']], 'POST'), data: [`0\r\n\r\n${SMUGGLED}`], expect: 'reset' },
  { name: 'Connection header', headers: req('/a', [['connection', 'keep-alive']]), expect: 'reset' },
  { name: 'Keep-Alive header', headers: req('/a', [['keep-alive', 'timeout=5']]), expect: 'reset' },
  { name: 'Upgrade header', headers: req('/a', [['upgrade', 'websocket']]), expect: 'reset' },
  { name: 'TE other than trailers', headers: req('/a', [['te', 'gzip']]), expect: 'reset' },
  { name: 'TE: trailers', headers: req('/a', [['te', 'trailers']]), expect: 'forwarded' },
  { name: 'CRLF in a header value', headers: req('/a', [['x-a', `b\r\n\r\n${SMUGGLED}`]]), expect: 'dropped' },
  { name: 'LF in a header value', headers: req('/a', [['x-a', 'b\nx-injected: 1']]), expect: 'dropped' },
  { name: 'CR in a header value', headers: req('/a', [['x-a', 'b\rx-injected: 1']]), expect: 'dropped' },
  { name: 'NUL in a header value', headers: req('/a', [['x-a', 'b\0c']]), expect: 'dropped' },
  { name: 'CRLF in a header name', headers: req('/a', [['x-a\r\nx-injected', '1']]), expect: 'dropped' },
  { name: 'colon in a header name', headers: req('/a', [['x:a', '1']]), expect: 'dropped' },
  { name: 'space in a header name', headers: req('/a', [['x a', '1']]), expect: 'dropped' },
  { name: 'upper-case header name', headers: req('/a', [['X-Upper', '1']]), expect: 'reset' },
  { name: 'empty header name', headers: req('/a', [['', '1']]), expect: 'dropped' },
  { name: 'pseudo-header after a regular one', headers: [[':method', 'GET'], [':scheme', 'https'], ['x-a', '1'], [':path', '/a'], [':authority', 'localhost']], expect: 'reset' },
  { name: 'duplicate :path', headers: [...req('/a'), [':path', '/smuggled']], expect: 'reset' },
  { name: 'unknown pseudo-header', headers: req('/a', [[':smuggle', '1']]), expect: 'reset' },
  { name: 'missing :path', headers: [[':method', 'GET'], [':scheme', 'https'], [':authority', 'localhost']], expect: 'reset' },
  { name: 'empty :path', headers: req(''), expect: 'reset' },
  { name: ':path with a space and a version', headers: req('/a HTTP/1.1\r\nHost: x\r\n\r\nGET /smuggled'), expect: 'reset' },
  { name: ':path with dot segments', headers: req('/x/../a'), expect: 400 },
  { name: ':path with encoded dot segments', headers: req('/x/%2e%2e/a'), expect: 400 },
  { name: ':path absolute-form', headers: req('https://localhost/a'), expect: 'reset' },
  { name: ':path asterisk', headers: req('*', [], 'OPTIONS'), expect: 400 },
  { name: ':authority with a path', headers: [[':method', 'GET'], [':path', '/a'], [':scheme', 'https'], [':authority', 'localhost/smuggled']], expect: 'reset' },
  { name: 'Host differs from :authority', headers: req('/a', [['host', 'other.example']]), expect: 400 },
  { name: 'two Host headers', headers: req('/a', [['host', 'localhost'], ['host', 'other.example']]), expect: 'reset' },
  { name: 'CONNECT', headers: [[':method', 'CONNECT'], [':authority', 'localhost:443']], expect: 405 },
  { name: 'method with a space', headers: req('/a', [], 'GET /smuggled'), expect: 'reset' },
  { name: 'identity header sent by the client', headers: req('/a', [['x-tls-client-cert', 'forged'], ['x-forwarded-for', '6.6.6.6']]), expect: 'forwarded' },
];

async function send(cases: Case[]): Promise<Result[]> {
  const r = await runCommand('/usr/bin/python3', [
    join(REPO_ROOT, 'test/helpers/h2-raw-client.py'), '127.0.0.1', String(proxy.port), `${pki.dir}/edge-ca.crt`, `${pki.dir}/alice.crt`, `${pki.dir}/alice.key`, '--timeout', '4',
  ], { input: JSON.stringify(cases.map((c) => ({ headers: c.headers, data: c.data ?? [], endStream: c.endStream ?? true }))), timeoutMs: cases.length * 6000 + 10_000 });
  const lines = r.stdout.trim().split('\n').filter(Boolean);
  assert.equal(lines.length, cases.length, `h2-raw-client.py: ${r.stdout}${r.stderr}`);
  return lines.map((l) => JSON.parse(l) as Result);
}

test('HTTP/2 corpus: each case is forwarded whole or refused as listed, and nothing else reaches the backend', async () => {
  const mark = backend.requests.length;
  const results = await send(CORPUS);
  const report: string[] = [];
  for (const [i, c] of CORPUS.entries()) {
    const r = results[i];
    const refused = r.reset !== null || r.goaway !== null || r.protocolError !== undefined || (r.closed && r.status === null);
    const echoed = r.status === 200 ? JSON.parse(r.body) as { headers: Record<string, string> } : undefined;
    const dropped = echoed !== undefined && !('x-a' in echoed.headers) && !('x-injected' in echoed.headers) && c.headers.some(([n]) => n !== n.toLowerCase() || /[\r\n\0: ]|^$/.test(n.replace(/^:/, '')) || n === 'x-a');
    const got = r.status !== null && !refused ? (r.status === 200 ? (c.expect === 'dropped' && dropped ? 'dropped' : 'forwarded') : r.status) : refused ? 'reset' : 'nothing';
    if (got !== c.expect) report.push(`${c.name}: expected ${c.expect}, got ${JSON.stringify(r)}`);
  }
  assert.deepEqual(report, []);
  const seen = backend.requests.slice(mark);
  for (const s of seen) {
    assert.notEqual(s.url, '/smuggled', 'a smuggled request reached the backend');
    for (const [k, v] of Object.entries(s.headers)) assert.doesNotMatch(`${k}: ${v}`, /[\r\n\0]/, 'a CR, LF or NUL reached the backend');
    assert.equal(s.headers['x-tls-client-cert'], undefined);
    assert.equal(s.headers['x-injected'], undefined, 'a field injected by CR/LF reached the backend');
    assert.equal(s.headers['x-forwarded-for'], '127.0.0.1');
    // a request whose body the client broke may have begun upstream; it is cut there, never completed
    if (s.method === 'POST' && s.bodySha256 !== '') assert.equal(s.bodyBytes, 5, `a POST reached the backend whole with ${s.bodyBytes} bytes`);
  }
  assert.equal(seen.filter((s) => s.method === 'POST' && s.bodySha256 !== '').length, 2, 'the two well-formed POSTs, and no other, reached the backend whole');
  assert.equal(proxy.child.exitCode, null, 'the proxy serves on');
});
