/**
 * What the stand-alone bench scripts set up the same way: a dev PKI in a
 * work directory, never-seen client certificates for first-time identities,
 * the bench's nginx backend (trusting the delegation, backend and client CAs),
 * and bench/load-client.ts run as a child process with a job file.
 */
import { spawn } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { certificatesDer } from '../../src/pki/index.js';
import { generateDevPki, writeDevPki, type DevPki } from '../../src/pki/dev/index.js';
import { generateClientCerts } from './client-certs.js';
import { REPO_ROOT } from './countersign.js';
import { backendHttpBlock, startNginx } from './nginx.js';
import { freePort } from './net.js';
import type { ConnectionsJob, RateJob } from '../load-client.js';

export interface BenchPki {
  pki: DevPki;
  pkiDir: string;
  /** JSON file of `firstTime` never-seen client certificates (none when 0) */
  certsFile: string;
}

/** The dev PKI written under `work/pki`, and `firstTime` never-seen client certificates in `work/certs.json`. */
export async function benchPki(work: string, firstTime = 0): Promise<BenchPki> {
  const pkiDir = join(work, 'pki');
  const pki = await generateDevPki();
  await writeDevPki(pki, pkiDir);
  const certsFile = join(work, 'certs.json');
  if (firstTime > 0) {
    const certs = await generateClientCerts({ certDer: certificatesDer(pki.clientCa.certPem)[0], key: createPrivateKey(pki.clientCa.keyPem) }, firstTime);
    await writeFile(certsFile, JSON.stringify(certs));
  }
  return { pki, pkiDir, certsFile };
}

/** The bench's nginx backend on a free port, trusting what countersign and the clients present. */
export async function startBenchBackend(work: string, { pki, pkiDir }: BenchPki): Promise<{ port: number; stop(): Promise<unknown> }> {
  const trust = join(work, 'backend-trust.pem');
  await writeFile(trust, pki.delegationCa.certPem + pki.backendCa.certPem + pki.clientCa.certPem);
  const port = await freePort();
  const backend = await startNginx('backend', work, port, () => backendHttpBlock(port, { cert: join(pkiDir, 'backend.crt'), key: join(pkiDir, 'backend.key'), trust }));
  return { port, stop: () => backend.stop() };
}

let jobSeq = 0;

/** Runs bench/load-client.ts on `job` in a child process; its last stdout line is the result. */
export async function runLoadClient<R>(work: string, job: ConnectionsJob | RateJob): Promise<R> {
  const file = join(work, `job-${process.pid}-${jobSeq++}.json`);
  await writeFile(file, JSON.stringify(job));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(REPO_ROOT, 'dist/bench/load-client.js'), file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { err = (err + d.toString()).slice(-10_000); });
    child.on('close', (code) => {
      try {
        if (code !== 0) throw new Error(`exit ${code}`);
        resolve(JSON.parse(out.trim().split('\n').pop() ?? '') as R);
      } catch (e) {
        reject(new Error(`load client failed (${(e as Error).message}): ${err}`));
      }
    });
  });
}
