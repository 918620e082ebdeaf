/**
 * A real Mosquitto broker (2.0) for the interop tests: TLS listener requiring
 * a client certificate from the delegation CA, `use_identity_as_username`, and
 * an ACL file, so the broker authorizes by the minted certificate's CN.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
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
  return startServerProcess({ command: 'mosquitto', args: ['-c', join(dir, 'mosquitto.conf')], ready: /mosquitto version [\d.]+ running/, port, dir });
}

/**
 * Mosquitto as a user starts it: `mosquitto ARGS` (a doc's command line, e.g.
 * `-c mosquitto.conf`) in `cwd`, the directory holding the config, its ACL
 * and `certs/`, so relative paths resolve as they do for the user. Only the
 * config's `listener` line is this test's: a free port on loopback.
 */
export async function startMosquittoIn(o: { cwd: string; args: string[]; conf?: string }): Promise<Mosquitto> {
  const port = await freePort();
  const confFile = join(o.cwd, o.conf ?? 'mosquitto.conf');
  const conf = await readFile(confFile, 'utf8');
  if (!/^listener \d+/m.test(conf)) throw new Error(`${confFile}: no listener line`);
  await writeFile(confFile, conf.replace(/^listener \d+.*$/m, `listener ${port} 127.0.0.1`));
  return startServerProcess({ command: 'mosquitto', args: o.args, cwd: o.cwd, ready: /mosquitto version [\d.]+ running/, port });
}

/** mosquitto_pub through the proxy as `who`; `alpn` sends that ALPN protocol; `mqttv5` speaks MQTT 5 (told when a publish is refused). */
export function mosquittoPub(port: number, pkiDir: string, who: string, topic: string, message: string, o: { alpn?: string; mqttv5?: boolean } = {}): Promise<CommandResult> {
  return runCommand('mosquitto_pub', [
    '-h', 'localhost', '-p', String(port), '--cafile', `${pkiDir}/edge-ca.crt`, '--cert', `${pkiDir}/${who}.crt`, '--key', `${pkiDir}/${who}.key`,
    ...(o.alpn ? ['--tls-alpn', o.alpn] : []), ...(o.mqttv5 ? ['-V', 'mqttv5'] : []), '-t', topic, '-m', message, '-q', '1', '-d',
  ], { timeoutMs: 60_000 });
}

/** mosquitto_sub through the proxy as `who`: waits for `count` messages (or the timeout). */
export function mosquittoSub(port: number, pkiDir: string, who: string, topic: string, o: { count?: number; timeoutS?: number; alpn?: string } = {}): Promise<CommandResult> {
  return runCommand('mosquitto_sub', [
    '-h', 'localhost', '-p', String(port), '--cafile', `${pkiDir}/edge-ca.crt`, '--cert', `${pkiDir}/${who}.crt`, '--key', `${pkiDir}/${who}.key`,
    ...(o.alpn ? ['--tls-alpn', o.alpn] : []), '-t', topic, '-C', String(o.count ?? 1), '-W', String(o.timeoutS ?? 10), '-q', '1', '-d',
  ], { timeoutMs: 20_000 });
}

/**
 * A subscriber through the proxy as `who`: `subscribed` resolves when the
 * broker acknowledged the subscription (SUBACK, printed by `-d`), so nothing
 * has to be read from the broker's log (which prints subscriptions only at
 * `log_type debug`); `done` when it got `count` messages or timed out.
 */
export function mosquittoSubscriber(port: number, pkiDir: string, who: string, topic: string, o: { count?: number; timeoutS?: number; alpn?: string } = {}): { subscribed: Promise<void>; done: Promise<CommandResult> } {
  // stdbuf: mosquitto_sub buffers its stdout when it is a pipe, and the SUBACK line must arrive when it is printed
  const child = spawn('stdbuf', ['-oL', 'mosquitto_sub',
    '-h', 'localhost', '-p', String(port), '--cafile', `${pkiDir}/edge-ca.crt`, '--cert', `${pkiDir}/${who}.crt`, '--key', `${pkiDir}/${who}.key`,
    ...(o.alpn ? ['--tls-alpn', o.alpn] : []), '-t', topic, '-C', String(o.count ?? 1), '-W', String(o.timeoutS ?? 10), '-q', '1', '-d',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let onSuback: () => void = () => {};
  let onGone: (err: Error) => void = () => {};
  const subscribed = new Promise<void>((resolve, reject) => { onSuback = resolve; onGone = reject; });
  child.stdout.on('data', (d) => { stdout += d; if (/received SUBACK/.test(stdout)) onSuback(); });
  child.stderr.on('data', (d) => { stderr += d; });
  const done = new Promise<CommandResult>((resolve) => child.once('close', (code) => {
    onGone(new Error(`mosquitto_sub ended before its SUBACK (exit ${code}): ${stdout}${stderr}`));
    resolve({ code, stdout, stderr });
  }));
  return { subscribed, done };
}
