/**
 * A real Mosquitto broker (2.0) for the interop tests: TLS listener requiring
 * a client certificate from the delegation CA, `use_identity_as_username`, and
 * an ACL file, so the broker authorizes by the minted certificate's CN.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './openssl-server.js';
import { runCommand, type CommandResult } from './run-command.js';
import { startServerProcess, type ServerProcess } from './server-process.js';

export type Mosquitto = ServerProcess;

export async function startMosquitto(o: { pkiDir: string; acl: string; extra?: string }): Promise<Mosquitto> {
  const dir = await mkdtemp(join(tmpdir(), 'countersign-mosquitto-'));
  const port = await freePort();
  await writeFile(join(dir, 'acl'), o.acl);
  await writeFile(join(dir, 'mosquitto.conf'), [
    // as root, Mosquitto drops to user `mosquitto`, which cannot read the test's 0600 keys
    ...(process.getuid?.() === 0 ? ['user root'] : []),
    'per_listener_settings false', 'allow_anonymous false', `acl_file ${join(dir, 'acl')}`, 'persistence false', 'log_dest stderr', 'log_type all',
    `listener ${port} 127.0.0.1`,
    `certfile ${o.pkiDir}/backend.crt`, `keyfile ${o.pkiDir}/backend.key`, `cafile ${o.pkiDir}/delegation-ca.crt`,
    'require_certificate true', 'use_identity_as_username true', 'tls_version tlsv1.3',
    o.extra ?? '', '',
  ].join('\n'));
  return launch(dir, port);
}

/**
 * Mosquitto from a config text (an example's mosquitto.conf): `certs/` points
 * at the test's PKI, `acl_file` at `acl` written next to it, the first
 * `listener` at a free loopback port.
 */
export async function startMosquittoFromConfig(o: { conf: string; acl: string; pkiDir: string }): Promise<Mosquitto> {
  const dir = await mkdtemp(join(tmpdir(), 'countersign-mosquitto-'));
  const port = await freePort();
  await writeFile(join(dir, 'acl'), o.acl);
  const conf = o.conf.replace(/\bcerts\//g, `${o.pkiDir}/`).replace(/^acl_file .*$/m, `acl_file ${join(dir, 'acl')}`).replace(/^listener .*$/m, `listener ${port} 127.0.0.1`);
  await writeFile(join(dir, 'mosquitto.conf'), [
    ...(process.getuid?.() === 0 ? ['user root'] : []), 'persistence false', 'log_dest stderr', 'log_type all', conf, '',
  ].join('\n'));
  return launch(dir, port);
}

function launch(dir: string, port: number): Promise<Mosquitto> {
  return startServerProcess({ command: 'mosquitto', args: ['-c', join(dir, 'mosquitto.conf')], ready: /mosquitto version [\d.]+ running/, port, dir });
}

/** mosquitto_pub through the proxy as `who`; `alpn` sends that ALPN protocol. */
export function mosquittoPub(port: number, pkiDir: string, who: string, topic: string, message: string, alpn?: string): Promise<CommandResult> {
  return runCommand('mosquitto_pub', [
    '-h', 'localhost', '-p', String(port), '--cafile', `${pkiDir}/edge-ca.crt`, '--cert', `${pkiDir}/${who}.crt`, '--key', `${pkiDir}/${who}.key`,
    ...(alpn ? ['--tls-alpn', alpn] : []), '-t', topic, '-m', message, '-q', '1', '-d',
  ], { timeoutMs: 60_000 });
}

/** mosquitto_sub through the proxy as `who`: waits for `count` messages (or the timeout). */
export function mosquittoSub(port: number, pkiDir: string, who: string, topic: string, o: { count?: number; timeoutS?: number; alpn?: string } = {}): Promise<CommandResult> {
  return runCommand('mosquitto_sub', [
    '-h', 'localhost', '-p', String(port), '--cafile', `${pkiDir}/edge-ca.crt`, '--cert', `${pkiDir}/${who}.crt`, '--key', `${pkiDir}/${who}.key`,
    ...(o.alpn ? ['--tls-alpn', o.alpn] : []), '-t', topic, '-C', String(o.count ?? 1), '-W', String(o.timeoutS ?? 10), '-q', '1', '-d',
  ], { timeoutMs: 20_000 });
}
