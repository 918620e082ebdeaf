/**
 * `countersign check [--config] FILE`: what `nginx -t` is to nginx. Runs every
 * check `start` runs (the schema, the cross-checks, every file the config
 * names, the certificate lifetimes, CA files and names: src/config/), then
 * builds the edge certificates exactly as `start` does, without listening and
 * without contacting an ACME server. Prints every problem at once.
 *
 * Exit codes: 0 the config is good (warnings may be printed), 1 problems
 * (or warnings with --strict), 2 usage.
 */
import { formatDuration, type Config } from '../../config/index.js';
import { silentLogger } from '../../observe/index.js';
import { createEdgeCertificates } from '../../edge/index.js';
import { isCountersignError } from '../../errors.js';
import type { Command } from '../command.js';
import { parseCommandArgs } from '../parse-args.js';
import { loadConfigForCli } from '../load-config-for-cli.js';
import { runConnectChecks } from '../check-connect.js';

const USAGE = 'countersign check [--config] FILE [--strict] [--connect]';

export const command: Command = {
  name: 'check',
  summary: 'validate a config file and every file it names, as start would; print each problem with its path',
  usage: USAGE,
  help: `usage: ${USAGE}
  --config, -c FILE  the configuration to check (or give FILE alone)
  --strict           count warnings as problems (exit 1), e.g. in CI
  --connect          also try each upstream server once, presenting what the proxy
                     would (a throwaway certificate minted by the delegation CA,
                     each header route's proxyCert); one line per server: ok with
                     the ALPN it speaks, or what is wrong and the key to change
Refuses everything \`countersign start\` refuses, and warns about what would
break clients later (certificates expiring within delegation.ttl, route names
no certificate covers). Exit status: 0 good, 1 problems (or, with --connect,
a server that failed), 2 usage.`,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, { config: { type: 'string', short: 'c' }, strict: { type: 'boolean' }, connect: { type: 'boolean' } }, USAGE);
    const files = [...(values.config ? [values.config] : []), ...positionals];
    if (files.length !== 1) {
      io.err(`countersign check: ${files.length === 0 ? 'missing the config file' : `expected one config file, got ${files.map((f) => `"${f}"`).join(' ')}`} (usage: ${USAGE})`);
      return 2;
    }
    const loaded = await loadConfigForCli(files[0], io, { printWarnings: true });
    if (!loaded) return 1;
    const { config, file, warnings } = loaded;
    // The same store `start` builds: whatever it refuses, check refuses.
    try {
      const edge = await createEdgeCertificates({ config, logger: silentLogger, live: false });
      await edge.stop();
    } catch (err) {
      io.err(`${file}: 1 problem`);
      io.err(`  ${isCountersignError(err) ? err.message : (err as Error).message}`);
      return 1;
    }
    if (warnings.length && values.strict) {
      io.err(`${file}: ${warnings.length} warning${warnings.length === 1 ? '' : 's'} (--strict counts them as problems)`);
      return 1;
    }
    if (values.connect) {
      const failed = await runConnectChecks(config, io);
      if (failed) {
        io.err(`${file}: ${failed} upstream connection${failed === 1 ? '' : 's'} failed`);
        return 1;
      }
    }
    const revocation = describeRevocation(config);
    if (revocation) io.out(revocation);
    io.out(`${file}: OK (${config.routes.length} route${config.routes.length === 1 ? '' : 's'}, upstreams: ${Object.keys(config.upstreams).join(', ')}, listen ${config.listen}${config.listeners.length ? `, listeners: ${config.listeners.map((l) => `${l.name} ${l.listen}${l.starttls ? ` (${l.starttls})` : ''}`).join(', ')}` : ''}${warnings.length ? `; ${warnings.length} warning${warnings.length === 1 ? '' : 's'}` : ''})`);
    return 0;
  },
};

/** One line: where revocation is learned from and what happens when it cannot be (none in mode any without CRLs). */
export function describeRevocation(config: Config): string | undefined {
  const auth = config.edge.clientAuth;
  const r = auth.revocation;
  const crls = auth.crl?.length ?? 0;
  if (auth.mode === 'any' && crls === 0) return undefined;
  const sources = [crls ? `CRL files: ${crls}` : 'CRL files: none'];
  sources.push(r.fetch
    ? `distribution points: fetched (http: only; every ${formatDuration(r.refreshInterval)} at most, before nextUpdate; kept in ${config.stateDir})`
    : 'distribution points: not fetched');
  sources.push(r.ocsp === 'off' ? 'OCSP: off' : r.ocsp === 'hard'
    ? `OCSP: hard (a client whose status the responder cannot give within ${formatDuration(r.timeout)} is refused)`
    : `OCSP: soft (a client whose status the responder cannot give within ${formatDuration(r.timeout)} is admitted and the failure logged)`);
  const grace = formatDuration(r.grace);
  const when = r.onUnavailable === 'refuse'
    ? `a client whose revocation status cannot be learned is refused (a CRL is used until ${grace} past its nextUpdate)`
    : `a client whose revocation status cannot be learned is admitted (a CRL is used until ${grace} past its nextUpdate, then ignored)`;
  return `revocation: ${sources.join('; ')}; every certificate of a client's chain is checked on every connection; ${when}`;
}
