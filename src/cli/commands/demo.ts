/**
 * `npm start`: a dev PKI (made if missing), the demo key service, and the proxy
 * in front of it, with the curl commands to try printed.
 */
import { existsSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LOG_LEVELS } from '../../config/index.js';
import { createLogger, reopenFiles } from '../../observe/index.js';
import { readFileSync } from 'node:fs';
import { identityOf, certificatesDer } from '../../pki/index.js';
import { generateDevPki, writeDevPki } from '../../pki/dev/index.js';
import { startProxy } from '../../proxy.js';
import type { Command } from '../command.js';
import { parseCommandArgs } from '../parse-args.js';
import { loadConfigForCli } from '../load-config-for-cli.js';
import { onReopenSignal, onShutdownSignals } from '../signals.js';

const PACKAGE_ROOT = resolve(fileURLToPath(import.meta.url), '../../../../..');
const PKI_FILES = ['edge.crt', 'edge.key', 'edge-ca.crt', 'client-ca.crt', 'alice.crt', 'alice.key', 'bob.crt', 'bob.key', 'root.crt', 'root.key', 'delegation-ca.crt', 'delegation-ca.key', 'backend-ca.crt', 'backend.crt', 'backend.key'];

export const command: Command = {
  name: 'demo',
  summary: 'run the proxy in front of a demo key service, on a dev PKI in ./certs',
  usage: 'countersign demo [--log-level LEVEL]',
  help: `usage: countersign demo [--log-level LEVEL]
  --log-level LEVEL  ${LOG_LEVELS.join(', ')} (default: info)
Writes a dev PKI to ./certs when there is none, starts a demo key service and the proxy in front of it, and prints commands to try. Ctrl-C stops everything.`,
  async run(args, io) {
    const { values } = parseCommandArgs(args, { 'log-level': { type: 'string', choices: LOG_LEVELS } }, this.usage);
    const certsDir = join(PACKAGE_ROOT, 'certs');
    if (!PKI_FILES.every((f) => existsSync(join(certsDir, f)))) {
      io.out(`Generating a dev PKI in ${certsDir} …`);
      await writeDevPki(await generateDevPki(), certsDir);
    }
    const configFile = join(PACKAGE_ROOT, 'examples/demo/countersign.yaml');
    const loaded = await loadConfigForCli(configFile, io);
    if (!loaded) return 1;
    // The demo's root identity is generated, so it joins the deny list here rather than in the file.
    loaded.config.edge.deny.push(identityOf(certificatesDer(readFileSync(join(certsDir, 'root.crt')))[0]));
    const { startKeyService } = await import(join(PACKAGE_ROOT, 'examples/demo/key-service.mjs')) as {
      startKeyService(o: { certsDir: string; port: number; log: (l: string) => void }): Promise<{ close(): Promise<void>; port: number }>;
    };
    const logger = createLogger({ level: (values['log-level'] ?? 'info') as 'info', pretty: loaded.config.log.pretty && process.stdout.isTTY });
    let backend;
    try {
      backend = await startKeyService({ certsDir, port: 7373, log: (l) => logger.info(l) });
    } catch (err) {
      io.err(`cannot start the demo key service on 127.0.0.1:7373: ${(err as Error).message}`);
      return 1;
    }
    let proxy;
    try {
      proxy = await startProxy({ config: loaded.config, logger });
    } catch (err) {
      await backend.close();
      io.err((err as Error).message);
      return 1;
    }
    const c = relative(process.cwd(), certsDir) || '.';
    const url = `https://localhost:${proxy.address.port}`;
    const curl = (who: string) => `curl --cacert ${c}/edge-ca.crt --cert ${c}/${who}.crt --key ${c}/${who}.key`;
    io.out(`
countersign is listening on ${url}, in front of a demo key service (127.0.0.1:7373).
The service trusts only countersign's delegation CA; it learns who the real client is
from the countersigned certificate and applies KES-style policies.

Try:
  # alice (policy app-operator) creates a key and gets a data key from it: allowed
  ${curl('alice')} -X POST ${url}/v1/key/create/app-key
  ${curl('alice')} -X POST ${url}/v1/key/generate/app-key

  # bob (policy auditor) tries the same: 403 prohibited by policy
  ${curl('bob')} -X POST ${url}/v1/key/create/app-key2

  # root is on the edge deny list: refused at the edge
  ${curl('root')} ${url}/v1/status

  # no client certificate: refused at the edge (400)
  curl --cacert ${c}/edge-ca.crt ${url}/v1/status

  # see what the backend sees
  ${curl('alice')} ${url}/v1/status

Each connection and request is logged below. Ctrl-C stops everything.
`);
    const p = proxy;
    const b = backend;
    onReopenSignal(reopenFiles, logger);
    return new Promise<number>((done) => {
      onShutdownSignals({
        onStop: async () => { await p.stop(2000); await b.close(); done(0); },
        onReload: () => { void p.reload(); },
        log: (m) => logger.info(m),
      });
    });
  },
};
