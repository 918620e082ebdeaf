/**
 * A real NATS server (Debian's nats-server 2.9) for the interop tests,
 * configured as docs/unaware-backends.md says (its `nats-conf` block, which
 * examples/nats/nats.conf is: TLS with the backend certificate,
 * the delegation CA as its only client CA, verify_and_map users named by their
 * certificate subject) with `certs/` pointing at the test's PKI and `listen`
 * at a free loopback port. Stopped by its pid.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './net.js';
import { REPO_ROOT } from './proxy-process.js';
import { startServerProcess, type ServerProcess } from './server-process.js';
import { docBlock } from './doc-blocks.js';

export type NatsServer = ServerProcess;

/** The docs' nats.conf block (docs/unaware-backends.md), with `certs/` pointing at the test's PKI. */
export const natsDocConf = (pkiDir: string): string => docBlock('docs/unaware-backends.md', 'nats-conf').text.replace(/\bcerts\//g, `${pkiDir}/`);

/** examples/nats/<file>, as it is */
export const natsExampleFile = (file: string): string => readFileSync(join(REPO_ROOT, 'examples', 'nats', file), 'utf8');

export async function startNats(o: { pkiDir: string; conf?: string }): Promise<NatsServer> {
  const dir = await mkdtemp(join(tmpdir(), 'countersign-nats-'));
  const port = await freePort();
  const conf = (o.conf ?? natsDocConf(o.pkiDir)).replace(/^listen: .*$/m, `listen: 127.0.0.1:${port}`);
  await writeFile(join(dir, 'nats.conf'), conf);
  return startServerProcess({ command: 'nats-server', args: ['-c', join(dir, 'nats.conf'), '-D'], ready: /Server is ready/, port, dir });
}
