/**
 * `countersign mint --for CLIENT.crt --config FILE [--out NAME]`: a dry run of
 * the delegation — the certificate the proxy configured by FILE would present
 * upstream for that client, minted by the same code from the configured
 * delegation CA. It prints the certificate (with the delegation CA's chain, as
 * presented) for `countersign inspect`, or a backend's own tools; the private
 * key is written only when asked, to NAME.key (0600), never printed. A client
 * on `edge.deny` is refused as the edge refuses it. The client certificate is
 * not verified against `edge.clientAuth` here: the proxy mints only for clients
 * its edge verified.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { CountersignError, isCountersignError } from '../../errors.js';
import { certificatesDer, describeCertificate, type CertificateInfo } from '../../pki/index.js';
import { delegationMinterFor } from '../../proxy.js';
import type { Command } from '../command.js';
import { parseCommandArgs } from '../parse-args.js';
import { loadConfigForCli } from '../load-config-for-cli.js';

const USAGE = 'countersign mint --for CLIENT.crt --config FILE [--out NAME]';
const HELP = `usage: ${USAGE}
  --for CLIENT.crt  the client's certificate (PEM or DER; a chain may follow it)
  --config FILE     the config whose delegation section mints (its CA, ttl, extension)
  --out NAME        write NAME.crt and NAME.key (0600) instead of printing the certificate;
                    existing files are never overwritten
Prints what the proxy would present upstream for that client. The key is never printed.`;

export const command: Command = {
  name: 'mint',
  summary: 'show the certificate the proxy would mint for a client (a dry run of the delegation)',
  usage: USAGE,
  help: HELP,
  async run(args, io) {
    if (args.includes('--help') || args.includes('-h')) { io.out(HELP); return 0; }
    const { values, positionals } = parseCommandArgs(args, {
      for: { type: 'string' }, config: { type: 'string', short: 'c' }, out: { type: 'string' },
    }, USAGE);
    if (positionals.length) throw new CountersignError('ERR_USAGE', `countersign mint: unexpected argument "${positionals[0]}" (usage: ${USAGE})`);
    if (!values.for || !values.config) throw new CountersignError('ERR_USAGE', `countersign mint: ${!values.for ? '--for CLIENT.crt' : '--config FILE'} is required (usage: ${USAGE})`);
    const loaded = await loadConfigForCli(values.config, io, { checkFiles: false });
    if (!loaded) return 1;
    const { config } = loaded;
    if (!config.delegation) {
      io.err(`countersign mint: ${values.config} has no delegation section: this proxy mints nothing (routes forward identity in headers only)`);
      return 1;
    }
    const client = await readClient(values.for);
    if (config.edge.deny.includes(client.identity)) {
      throw new CountersignError('ERR_IDENTITY_DENIED', `countersign mint: ${values.for} (identity ${client.identity}) is on edge.deny: the edge refuses this client, nothing is minted for it`);
    }
    const minter = delegationMinterFor(config.delegation, { keyPoolSize: 1 });
    try {
      const creds = minter.credentialsFor(client);
      const summary = `minted for ${client.subject || '(empty subject)'} (identity ${client.identity}), serial ${creds.serial}, valid until ${creds.notAfter.toISOString()}, by ${config.delegation.ca.cert}`;
      if (values.out) {
        const [cert, key] = [`${values.out}.crt`, `${values.out}.key`];
        // wx: never overwrite (a key file replaced under a running client, or a CA's); the key is 0600 from its creation
        await writeFile(key, creds.keyPem, { mode: 0o600, flag: 'wx' }).catch((err) => { throw explainWrite(key, err); });
        await writeFile(cert, creds.chainPem, { mode: 0o644, flag: 'wx' }).catch((err) => { throw explainWrite(cert, err); });
        io.err(summary);
        io.out(`wrote ${cert} and ${key} (0600)`);
      } else {
        io.err(summary);
        io.out(creds.chainPem.trimEnd());
      }
      return 0;
    } finally {
      minter.stop();
    }
  },
};

async function readClient(file: string): Promise<CertificateInfo> {
  let data: Buffer;
  try {
    data = await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CountersignError('ERR_CONFIG_FILE', `countersign mint: ${file}: ${code === 'ENOENT' ? 'no such file' : `cannot read it (${code ?? (err as Error).message})`}`, { cause: err });
  }
  // PEM and certificate errors name the file already
  return describeCertificate(certificatesDer(data, file)[0]);
}

function explainWrite(file: string, err: unknown): Error {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EEXIST') return new CountersignError('ERR_USAGE', `countersign mint: ${file} exists; remove it or choose another --out`);
  return isCountersignError(err) ? err : new CountersignError('ERR_CONFIG_FILE', `countersign mint: cannot write ${file} (${code ?? (err as Error).message})`, { cause: err });
}
