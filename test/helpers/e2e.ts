/**
 * Small things the end-to-end tests share: identities of PKI files, log
 * windows, certificates and CRLs written to a test's PKI directory, and raw
 * sockets to the proxy.
 */
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { connect as netConnect, type Socket } from 'node:net';
import { request as httpsRequest } from 'node:https';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { certificatesDer, identityOf } from '../../src/pki/index.js';
import { issueCertificate, type IssuedCertificate, type IssueOptions } from '../../src/pki/dev/index.js';
import { writeCrl } from './crl.js';
import type { LogLine, ProxyProcess } from './proxy-process.js';
import { runCommand } from './run-command.js';

export { sleep } from './wait.js';
export { writeCrl } from './crl.js';

/** `countersign identity of <dir>/<who>.crt` */
export function identityOfFile(dir: string, who: string): string {
  return identityOf(certificatesDer(readFileSync(`${dir}/${who}.crt`))[0]);
}

/**
 * Log lines written after `mark` (an index into proxy.logs) and before a
 * barrier: SIGUSR1 makes the proxy write one line (`SIGUSR1: …`) when it gets
 * to it, and one process writes its lines in order, so every line of what it
 * had done by then is in the list — no fixed wait. (The barrier line itself is
 * left out. Workers write their own lines: with workers, wait for the lines
 * you expect instead.)
 */
export async function logsSince(proxy: ProxyProcess, mark: number): Promise<LogLine[]> {
  const from = proxy.logs.length;
  proxy.child.kill('SIGUSR1');
  const barrier = await proxy.waitForLog((l) => proxy.logs.indexOf(l) >= from && /^SIGUSR1: /.test(l.msg));
  return proxy.logs.slice(mark, proxy.logs.indexOf(barrier)).filter((l) => !/^SIGUSR1: /.test(l.msg));
}

/**
 * The lines that give a reason, less handshake failures: those are other
 * sockets' (a client that got an answer finished its handshake), and a
 * loaded machine may log one of an earlier client's at any time.
 */
export function reasonLines(lines: LogLine[]): LogLine[] {
  return lines.filter((l) => l.reason !== undefined && l.msg !== 'handshake failed');
}

/** Issues a certificate and writes <dir>/<name>.crt and .key. */
export async function writeIssued(dir: string, name: string, o: IssueOptions): Promise<IssuedCertificate> {
  const c = await issueCertificate(o);
  await writeFile(`${dir}/${name}.crt`, c.certPem);
  await writeFile(`${dir}/${name}.key`, c.keyPem, { mode: 0o600 });
  return c;
}

/** A TLS client to the proxy as `who` (a PKI file name) or anonymous; resolves once the handshake is done. */
export function tlsClient(port: number, pkiDir: string, who: string | undefined, extra: ConnectionOptions = {}): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({
      host: '127.0.0.1', port, servername: 'localhost', ca: readFileSync(`${pkiDir}/edge-ca.crt`),
      ...(who ? { cert: readFileSync(`${pkiDir}/${who}.crt`), key: readFileSync(`${pkiDir}/${who}.key`) } : {}),
      ...extra,
    });
    s.once('secureConnect', () => { s.removeListener('error', reject); resolve(s); });
    s.once('error', reject);
  });
}

/** Everything a socket sends until it closes, and how it closed. */
export function readUntilClose(s: Socket): Promise<{ data: string; error?: Error }> {
  return new Promise((resolve) => {
    let data = '';
    let error: Error | undefined;
    s.on('data', (d: Buffer) => { data += d.toString(); });
    s.on('error', (e) => { error = e; });
    s.once('close', () => resolve({ data, error }));
  });
}

/** A plain TCP connection (no TLS) to the proxy. */
export function tcpClient(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = netConnect({ host: '127.0.0.1', port }, () => { s.removeListener('error', reject); resolve(s); });
    s.once('error', reject);
  });
}

/**
 * Client certificates a user may try, written next to the PKI's own (each as
 * <name>.crt/.key): `stranger` (another CA), `expired` and `revoked` (the
 * client CA), `selfsigned` and `selfsigned-expired`; plus `client-ca.crl`
 * revoking `revoked`.
 */
export async function writeClientCertificates(pki: { dir: string; pki: { clientCa: IssuedCertificate } }): Promise<{ crl: string }> {
  const day = 86400_000;
  const otherCa = await issueCertificate({ subject: 'CN=some other CA', ca: true });
  await writeIssued(pki.dir, 'stranger', { subject: 'CN=stranger', issuer: otherCa });
  await writeIssued(pki.dir, 'expired', { subject: 'CN=expired, O=countersign dev', issuer: pki.pki.clientCa, notBefore: new Date(Date.now() - 30 * day), notAfter: new Date(Date.now() - day) });
  const revoked = await writeIssued(pki.dir, 'revoked', { subject: 'CN=revoked, O=countersign dev', issuer: pki.pki.clientCa });
  await writeIssued(pki.dir, 'selfsigned', { subject: 'CN=selfsigned' });
  await writeIssued(pki.dir, 'selfsigned-expired', { subject: 'CN=selfsigned-expired', notBefore: new Date(Date.now() - 30 * day), notAfter: new Date(Date.now() - day) });
  const crl = await writeCrl(pki.dir, 'client-ca.crl', pki.pki.clientCa, [revoked]);
  return { crl };
}

/** An upstream entry for a server from the PKI (backend.crt, verified as backend.internal). */
export function upstreamTo(pkiDir: string, port: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { servers: [`127.0.0.1:${port}`], ca: `${pkiDir}/backend-ca.crt`, servername: 'backend.internal', ...extra };
}

/**
 * One server behind three upstreams: `on` (http2: on) under /on/, `off`
 * (http2: off) under /off/, and `backend` (auto) for the rest: the same
 * request, each way the proxy may speak to it.
 */
export function http2UpstreamRoutes(pkiDir: string, port: number): { upstreams: Record<string, unknown>; routes: Record<string, unknown>[] } {
  return {
    upstreams: { backend: upstreamTo(pkiDir, port), on: upstreamTo(pkiDir, port, { http2: 'on' }), off: upstreamTo(pkiDir, port, { http2: 'off' }) },
    routes: [
      { upstream: 'on', mode: 'http', match: { pathPrefix: '/on/' } },
      { upstream: 'off', mode: 'http', match: { pathPrefix: '/off/' } },
      { upstream: 'backend', mode: 'http' },
    ],
  };
}

/** `openssl s_client` to the proxy as `who` (or anonymous), sending `input`; waits for the server to close. */
export function sClient(port: number, pkiDir: string, who: string | undefined, o: { servername?: string; input?: string; args?: string[] } = {}) {
  return runCommand('openssl', [
    's_client', '-connect', `127.0.0.1:${port}`, '-servername', o.servername ?? 'localhost', '-CAfile', `${pkiDir}/edge-ca.crt`, '-quiet',
    ...(who ? ['-cert', `${pkiDir}/${who}.crt`, '-key', `${pkiDir}/${who}.key`] : []),
    ...(o.args ?? []),
  ], { input: o.input ?? 'ping\n', timeoutMs: 8000 });
}

/** One HTTP/1.1 keep-alive request on an open TLS socket (GET `path`, Host localhost); resolves with the response's status line. */
export function askOnSocket(s: TLSSocket, path: string): Promise<string> {
  return new Promise((resolve) => {
    let data = '';
    const onData = (d: Buffer) => {
      data += d.toString();
      const end = data.indexOf('\r\n\r\n');
      const len = /content-length: (\d+)/i.exec(data);
      if (end >= 0 && len && data.length >= end + 4 + Number(len[1])) { s.removeListener('data', onData); resolve(data.split('\r\n')[0]); }
    };
    s.on('data', onData);
    s.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
  });
}

/** One GET over HTTPS on a keep-alive agent (servername localhost); resolves on a whole 200, rejects on anything else, naming the path. */
export function getOk(agent: import('node:https').Agent, port: number, ca: Buffer, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, servername: 'localhost', path, agent, ca }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`GET ${path}: ${res.statusCode} ${body}`))));
      res.on('error', reject);
    });
    req.on('error', (err) => reject(new Error(`GET ${path}: ${err.message}`)));
    req.end();
  });
}

/**
 * One HTTP/1.1 request (GET `path`, Connection: close) with `openssl s_client`
 * as `who`, saving the TLS session to `session.out` and/or resuming the one in
 * `session.in`: the status line ('' when the proxy closed), whether the
 * session was resumed, and what s_client printed. s_client sends the first
 * certificate of <who>.crt only: intermediates go in `session.chain` (a PEM file).
 */
export async function sClientRequest(port: number, pkiDir: string, who: string, session: { out?: string; in?: string; chain?: string } = {}, path = '/resume') {
  const r = await runCommand('openssl', [
    's_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', '-CAfile', `${pkiDir}/edge-ca.crt`,
    '-cert', `${pkiDir}/${who}.crt`, '-key', `${pkiDir}/${who}.key`, '-alpn', 'http/1.1', '-ign_eof',
    ...(session.out ? ['-sess_out', session.out] : []), ...(session.in ? ['-sess_in', session.in] : []),
    ...(session.chain ? ['-cert_chain', session.chain] : []),
  ], { input: `GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`, timeoutMs: 15_000 });
  const status = /HTTP\/1\.1 \d+[^\r\n]*/.exec(r.stdout)?.[0] ?? '';
  return { status, reused: /^Reused,/m.test(r.stdout), out: r.stdout };
}
