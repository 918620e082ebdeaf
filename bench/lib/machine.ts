/** The machine a run happened on, for the results and docs/performance.md. */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';

export interface MachineInfo {
  nproc: number;
  cpuModel: string;
  memoryGiB: number;
  kernel: string;
  node: string;
  nodeOpenssl: string;
  nginx: string;
  openssl: string;
  ab: string;
}

/** stdout and stderr of a command (nginx -v prints to stderr). */
function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim();
}

export function machineInfo(nginxBin: string, abBin: string): MachineInfo {
  let cpuModel = cpus()[0]?.model ?? 'unknown';
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) cpuModel = m[1].trim();
  } catch { /* not Linux */ }
  const nginxV = /nginx version: (?:nginx\/)?(\S+)/.exec(run(nginxBin, ['-v']))?.[1] ?? 'unknown';
  const abV = /Version (\S+)/.exec(run(abBin, ['-V']))?.[1] ?? 'unknown';
  let abPkg = '';
  const dpkg = run('dpkg-query', ['-W', '-f', '${Version}', 'apache2-utils']);
  if (/^\d/.test(dpkg)) abPkg = ` (apache2-utils ${dpkg})`;
  return {
    nproc: Number(run('nproc', [])) || cpus().length,
    cpuModel,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    nodeOpenssl: process.versions.openssl ?? 'unknown',
    nginx: nginxV,
    openssl: run('openssl', ['version']).replace(/^OpenSSL /, '').split(' (')[0],
    ab: `${abV}${abPkg}`,
  };
}
