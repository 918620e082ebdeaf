/**
 * The ClientHello peek: real hellos captured from tls.connect and openssl, split
 * in every way a network can split them, plus garbage, oversize, slow and
 * truncated peers. After a peek the socket must still complete a real handshake.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import * as tls from 'node:tls';
import fc from 'fast-check';
import { parseClientHello, readClientHello, type ClientHello } from '../../src/edge/client-hello.js';
import { isCountersignError } from '../../src/errors.js';
import { issueCertificate, type IssuedCertificate } from '../../src/pki/dev/issue-certificate.js';
import { sleep } from '../helpers/edge-tls.js';

/** The first flight a real client sends, captured by a plain TCP server. */
async function captureHello(opts: tls.ConnectionOptions): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const server = createServer((s) => {
    s.on('data', (d) => { chunks.push(d); s.destroy(); });
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => {
    const c = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...opts });
    c.on('error', () => resolve());
    c.on('close', () => resolve());
  });
  server.close();
  return Buffer.concat(chunks);
}

/** Re-frames a single-record hello into records of at most `size` payload bytes. */
function reframe(hello: Buffer, size: number): Buffer {
  const payload = hello.subarray(5);
  const out: Buffer[] = [];
  for (let i = 0; i < payload.length; i += size) {
    const part = payload.subarray(i, i + size);
    const header = Buffer.from([0x16, hello[1], hello[2], 0, 0]);
    header.writeUInt16BE(part.length, 3);
    out.push(header, part);
  }
  return Buffer.concat(out);
}

describe('parseClientHello on real hellos', () => {
  let withAll: Buffer;
  let bare: Buffer;
  before(async () => {
    withAll = await captureHello({ servername: 'Edge.Example.com', ALPNProtocols: ['h2', 'http/1.1', 'acme-tls/1'] });
    bare = await captureHello({}); // by IP: no SNI, no ALPN
  });

  it('reads SNI (lowercased) and the ALPN list in client order from a Node ClientHello', () => {
    const h = parseClientHello(withAll)!;
    assert.equal(h.serverName, 'edge.example.com');
    assert.deepEqual(h.alpnProtocols, ['h2', 'http/1.1', 'acme-tls/1']);
    assert.equal(h.legacyVersion, 0x0303);
    assert.equal(h.length, withAll.length);
  });

  it('reports no SNI and no ALPN when the client sent neither', () => {
    const h = parseClientHello(bare)!;
    assert.equal(h.serverName, undefined);
    assert.deepEqual(h.alpnProtocols, []);
  });

  it('returns null for every proper prefix, and the hello at full length', () => {
    for (let n = 0; n < withAll.length; n++) assert.equal(parseClientHello(withAll.subarray(0, n)), null, `prefix ${n}`);
    assert.ok(parseClientHello(withAll));
  });

  it('reassembles a hello split over several TLS records', () => {
    for (const size of [1, 7, 100]) {
      const framed = reframe(withAll, size);
      const h = parseClientHello(framed)!;
      assert.equal(h.serverName, 'edge.example.com', `records of ${size}`);
      assert.deepEqual(h.alpnProtocols, ['h2', 'http/1.1', 'acme-tls/1']);
      assert.equal(h.length, framed.length);
      assert.equal(parseClientHello(framed.subarray(0, framed.length - 1)), null);
    }
  });

  it('rejects plain HTTP at once with a message that says what it saw', () => {
    assert.throws(() => parseClientHello(Buffer.from('GET / HTTP/1.1\r\n')), (err) => {
      assert.ok(isCountersignError(err, 'ERR_CLIENT_HELLO_MALFORMED'));
      assert.match(err.message, /0x47.*plain text/);
      return true;
    });
  });

  it('rejects a handshake record that is not a ClientHello', () => {
    const serverHello = Buffer.from(withAll);
    serverHello[5] = 0x02;
    assert.throws(() => parseClientHello(serverHello), (err) => isCountersignError(err, 'ERR_CLIENT_HELLO_MALFORMED'));
  });

  it('rejects lengths that run past their container', () => {
    const bad = Buffer.from(withAll);
    // legacy_session_id length: after 5 (record) + 4 (handshake) + 2 (version) + 32 (random)
    bad[5 + 4 + 2 + 32] = 0xff;
    assert.throws(() => parseClientHello(bad), (err) => isCountersignError(err, 'ERR_CLIENT_HELLO_MALFORMED'));
  });

  it('never throws anything but a typed error on random bytes (property)', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), fc.boolean(), (bytes, prefix) => {
      const input = prefix ? Buffer.concat([Buffer.from([0x16, 0x03, 0x01]), bytes]) : Buffer.from(bytes);
      try {
        const r = parseClientHello(input);
        assert.ok(r === null || typeof r.alpnProtocols.length === 'number');
      } catch (err) {
        assert.ok(isCountersignError(err, 'ERR_CLIENT_HELLO_MALFORMED'), String(err));
      }
    }), { numRuns: 2_000 });
  });

  it('also reads what openssl s_client sends', async () => {
    const chunks: Buffer[] = [];
    const server = createServer((s) => { s.on('data', (d) => { chunks.push(d); s.destroy(); }); s.on('error', () => {}); });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    await new Promise<void>((resolve) => {
      const p = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'ossl.test', '-alpn', 'acme-tls/1'], { stdio: ['pipe', 'ignore', 'ignore'] });
      p.on('close', () => resolve());
      p.stdin.end();
    });
    server.close();
    const h = parseClientHello(Buffer.concat(chunks))!;
    assert.equal(h.serverName, 'ossl.test');
    assert.deepEqual(h.alpnProtocols, ['acme-tls/1']);
  });
});

describe('readClientHello on sockets', () => {
  let server: Server;
  let port: number;
  let tlsServer: tls.Server;
  let cert: IssuedCertificate;
  let outcome: (socket: Socket) => void;
  const open: Socket[] = [];

  before(async () => {
    cert = await issueCertificate({ subject: 'CN=peek.test', usage: 'server', dnsNames: ['peek.test'] });
    tlsServer = tls.createServer({ cert: cert.certPem, key: cert.keyPem, ALPNProtocols: ['http/1.1'] }, (s) => { s.on('error', () => {}); s.pipe(s); });
    tlsServer.on('tlsClientError', () => {});
    server = createServer((s) => { open.push(s); outcome(s); });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  after(() => { for (const s of open) s.destroy(); server.close(); tlsServer.close(); });

  /** Runs `drive` as the client, resolves with what readClientHello did on the server side. */
  function peek(drive: (socket: Socket) => void, opts?: Parameters<typeof readClientHello>[1]): Promise<{ hello?: ClientHello; error?: unknown; socket: Socket }> {
    return new Promise((resolve) => {
      outcome = (s) => readClientHello(s, opts).then((hello) => resolve({ hello, socket: s }), (error) => { s.destroy(); resolve({ error, socket: s }); });
      const c = connect(port, '127.0.0.1', () => drive(c));
      c.on('error', () => {});
    });
  }

  it('peeks without consuming: the socket still completes a real TLS handshake afterwards', async () => {
    let client!: tls.TLSSocket;
    const seen = new Promise<ClientHello>((resolve, reject) => {
      outcome = (s) => readClientHello(s).then((hello) => { tlsServer.emit('connection', s); resolve(hello); }, reject);
    });
    const done = new Promise<string>((resolve, reject) => {
      client = tls.connect({ host: '127.0.0.1', port, servername: 'peek.test', ALPNProtocols: ['http/1.1'], ca: cert.certPem }, () => {
        client.write('ping');
        client.once('data', (d) => resolve(`${client.alpnProtocol}:${d}`));
      });
      client.on('error', reject);
    });
    assert.equal((await seen).serverName, 'peek.test');
    assert.equal(await done, 'http/1.1:ping');
    client.destroy();
  });

  it('waits for a hello that arrives a few bytes at a time', async () => {
    const hello = await captureHello({ servername: 'slow.test', ALPNProtocols: ['acme-tls/1'] });
    const r = await peek(async (c) => {
      for (let i = 0; i < hello.length; i += 37) { c.write(hello.subarray(i, i + 37)); await sleep(2); }
    });
    assert.equal(r.hello?.serverName, 'slow.test');
    assert.deepEqual(r.hello?.alpnProtocols, ['acme-tls/1']);
    // everything read was pushed back
    const back = r.socket.read(hello.length) as Buffer | null;
    assert.ok(back && back.equals(hello));
    r.socket.destroy();
  });

  it('fails fast on garbage', async () => {
    const t0 = Date.now();
    const r = await peek((c) => c.write('SSH-2.0-OpenSSH_9.6\r\n'), { timeoutMs: 5_000 });
    assert.ok(isCountersignError(r.error, 'ERR_CLIENT_HELLO_MALFORMED'));
    assert.ok(Date.now() - t0 < 1_000);
  });

  it('gives up at the size cap', async () => {
    const hello = await captureHello({ servername: 'big.test' });
    const slow = await peek(async (c) => { for (let i = 0; i < hello.length; i += 50) { c.write(hello.subarray(i, i + 50)); await sleep(5); } }, { maxBytes: 200 });
    assert.ok(isCountersignError(slow.error, 'ERR_CLIENT_HELLO_TOO_LARGE'), String(slow.error));
    assert.match((slow.error as Error).message, /incomplete after 2\d\d bytes/);
    // all at once: complete, but still larger than the cap
    const burst = await peek((c) => c.write(hello), { maxBytes: 200 });
    assert.ok(isCountersignError(burst.error, 'ERR_CLIENT_HELLO_TOO_LARGE'), String(burst.error));
  });

  it('times out on a peer that sends half a hello and waits', async () => {
    const hello = await captureHello({ servername: 'half.test' });
    const r = await peek((c) => c.write(hello.subarray(0, 20)), { timeoutMs: 200 });
    assert.ok(isCountersignError(r.error, 'ERR_CLIENT_HELLO_TIMEOUT'), String(r.error));
  });

  it('reports a peer that closes mid-hello', async () => {
    const hello = await captureHello({ servername: 'gone.test' });
    const r = await peek((c) => c.end(hello.subarray(0, 50)), { timeoutMs: 2_000 });
    assert.ok(isCountersignError(r.error, 'ERR_CLIENT_HELLO_TRUNCATED'), String(r.error));
  });
});
