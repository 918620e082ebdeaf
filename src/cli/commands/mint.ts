/**
 * `countersign mint --for CLIENT.crt --config FILE [--out NAME]`: a dry run of
 * the delegation — the certificate the proxy configured by FILE would present
 * upstream for that client, minted by the same code from the configured
 * delegation CA. It prints the certificate (with the delegation CA's chain, as
 * presented) for `countersign inspect`, or a backend's own tools; the private
 * key is written only when asked, to NAME.key (0600), never printed. The
 * client's chain (the certificates after it in the file) is built to
 * `edge.clientAuth.ca` by the edge's own path builder: under `require` and
 * `optional` a client no configured CA vouches for is refused, as the edge
 * refuses it; under `any` it is minted as the edge mints it, `CN=<identity>`
 * without its names. A client on `edge.deny` is refused. Revocation (CRLs) is
 * not looked at.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { CountersignError, isCountersignError } from '../../errors.js';
import { X509Certificate } from 'node:crypto';
import { certificatesDer, describeCertificate, type CertificateInfo } from '../../pki/index.js';
import { loadTrustFiles } from '../../edge/index.js';
import type { Config } from '../../config/index.js';
import { delegationMinterFor } from '../../runtime/index.js';
import type { Command } from '../command.js';
import { parseCommandArgs } from '../parse-args.js';
import { loadConfigForCli } from '../load-config-for-cli.js';

const USAGE = 'countersign mint --for CLIENT.crt --config FILE [--out NAME]';
const HELP = `usage: ${USAGE}
  --for CLIENT.crt  the client's certificate (PEM or DER; its intermediates may follow it)
  --config FILE     the config whose delegation section mints (its CA, ttl, extension)
  --out NAME        write NAME.crt and NAME.key (0600) instead of printing the certificate;
                    existing files are never overwritten
Prints what the proxy would present upstream for that client: its chain is built to
edge.clientAuth.ca as the edge builds it (revocation is not looked at). The key is never printed.`;

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
    const { client, chain } = await readClient(values.for);
    if (config.edge.deny.includes(client.identity)) {
      throw new CountersignError('ERR_IDENTITY_DENIED', `countersign mint: ${values.for} (identity ${client.identity}) is on edge.deny: the edge refuses this client, nothing is minted for it`);
    }
    const namesVouched = await vouchedByClientCa(config, chain);
    if (!namesVouched && config.edge.clientAuth.mode !== 'any') {
      throw new CountersignError('ERR_PEER_UNAUTHORIZED', `countersign mint: ${values.for} does not chain to edge.clientAuth.ca (unknown CA): the edge refuses this client under mode ${config.edge.clientAuth.mode}, nothing is minted for it`);
    }
    const minter = delegationMinterFor(config.delegation, { keyPoolSize: 1 });
    try {
      const creds = minter.credentialsFor(client, { namesVouched });
      const names = namesVouched ? '' : ' as CN=<identity>, its names vouched for by no configured CA (mode any)';
      const summary = `minted for ${client.subject || '(empty subject)'} (identity ${client.identity})${names}, serial ${creds.serial}, valid until ${creds.notAfter.toISOString()}, by ${config.delegation.ca.cert}`;
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

/** Whether a configured client CA vouches for the client: its path (leaf, then what followed it in the file) reaches one. */
async function vouchedByClientCa(config: Config, chain: Buffer[]): Promise<boolean> {
  const { ca, crl } = config.edge.clientAuth;
  if (!ca?.length) return false;
  const trust = (await loadTrustFiles({ ca, crl })).clientTrust;
  const [leaf, ...sent] = chain.map((der) => new X509Certificate(der));
  return trust.pathOf(leaf, () => sent) !== undefined;
}

async function readClient(file: string): Promise<{ client: CertificateInfo; chain: Buffer[] }> {
  let data: Buffer;
  try {
    data = await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CountersignError('ERR_CONFIG_FILE', `countersign mint: ${file}: ${code === 'ENOENT' ? 'no such file' : `cannot read it (${code ?? (err as Error).message})`}`, { cause: err });
  }
  // PEM and certificate errors name the file already
  const chain = certificatesDer(data, file);
  return { client: describeCertificate(chain[0]), chain };
}

function explainWrite(file: string, err: unknown): Error {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EEXIST') return new CountersignError('ERR_USAGE', `countersign mint: ${file} exists; remove it or choose another --out`);
  return isCountersignError(err) ? err : new CountersignError('ERR_CONFIG_FILE', `countersign mint: cannot write ${file} (${code ?? (err as Error).message})`, { cause: err });
}
