/**
 * Micro-benchmarks of the delegation hot path, in this process:
 * - mint on a cache miss: DelegationMinter.credentialsFor for a never-seen
 *   certificate, with a full key pool (the steady state the pool is there for);
 * - the same plus building the upstream SecureContext from it (what the first
 *   connection of a new identity pays in total before its upstream handshake);
 * - a cached lookup: credentialsFor for a certificate already minted;
 * - identify a returning client: ClientVerifier.verify on a handshake result
 *   whose certificate it has seen (one SHA-256 of the DER and a cache lookup).
 */
import { X509Certificate } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { createSecureContext, type TLSSocket } from 'node:tls';
import { DEFAULT_DELEGATION_LIMITS, DEFAULTS } from '../src/config/index.js';
import { DelegationMinter } from '../src/delegation/index.js';
import { ClientVerifier } from '../src/edge/client-verifier.js';
import { describeCertificate, loadSigningCa, certificatesDer } from '../src/pki/index.js';
import { type DevPki } from '../src/pki/dev/index.js';
import type { ClientCert } from './lib/client-certs.js';
import { median, percentiles } from './lib/stats.js';

export interface MicroResult {
  iterations: number;
  mintMissMedianUs: number;
  mintMissP90Us: number;
  mintPlusContextMedianUs: number;
  cachedLookupMedianUs: number;
  identifyReturningMedianUs: number;
}

export async function runMicro(pki: DevPki, certs: ClientCert[], iterations: number): Promise<MicroResult> {
  const ca = loadSigningCa({ certPem: pki.delegationCa.certPem, keyPem: pki.delegationCa.keyPem, what: 'delegation.ca' });
  const originals = certs.slice(0, iterations * 2).map((c) => describeCertificate(certificatesDer(c.certPem)[0]));
  const minter = new DelegationMinter({ ...DEFAULT_DELEGATION_LIMITS, ca, keyPoolSize: 64 });
  await minter.ready();
  const backendCa = pki.backendCa.certPem;
  try {
    // warm the JIT on a few that are not counted
    for (let i = 0; i < 20; i++) minter.credentialsFor(originals[originals.length - 1 - i], { namesVouched: true });

    // Each take() from the key pool starts a refill on the libuv thread pool. Mint in
    // small bursts and let the pool refill in between, as it does between bursts of new
    // clients; back to back, 1000 queued key generations would compete with the timed
    // thread for the two cores and measure the contention instead.
    const burst = 16;
    const miss = new Float64Array(iterations);
    for (let i = 0; i < iterations; i++) {
      if (i % burst === 0) await minter.ready();
      const t = performance.now();
      minter.credentialsFor(originals[i], { namesVouched: true });
      miss[i] = (performance.now() - t) * 1000;
    }
    const withCtx = new Float64Array(iterations);
    for (let i = 0; i < iterations; i++) {
      if (i % burst === 0) await minter.ready();
      const t = performance.now();
      const creds = minter.credentialsFor(originals[iterations + i], { namesVouched: true });
      creds.secureContext({ upstream: 'bench', digest: 'bench' }, (c) => createSecureContext({ ca: backendCa, minVersion: 'TLSv1.3', cert: c.certPem, key: c.keyPem }));
      withCtx[i] = (performance.now() - t) * 1000;
    }

    const hit = originals[0];
    const batch = 1000;
    const batches: number[] = [];
    for (let b = 0; b < 200; b++) {
      const t = performance.now();
      for (let i = 0; i < batch; i++) minter.credentialsFor(hit, { namesVouched: true });
      batches.push(((performance.now() - t) * 1000) / batch);
    }

    // A returning client as the edge sees it: the peer certificate of a finished handshake.
    const verifier = new ClientVerifier({ mode: 'require', maxChainDepth: DEFAULTS.maxChainDepth });
    const x509 = new X509Certificate(certificatesDer(certs[0].certPem)[0]);
    const socket = { getPeerX509Certificate: () => x509, authorized: true, authorizationError: null } as unknown as TLSSocket;
    verifier.verify(socket);
    const ident: number[] = [];
    for (let b = 0; b < 100; b++) {
      const t = performance.now();
      for (let i = 0; i < batch; i++) verifier.verify(socket);
      ident.push(((performance.now() - t) * 1000) / batch);
    }
    const [m90] = percentiles(miss, [90]);
    return {
      iterations,
      mintMissMedianUs: median([...miss]),
      mintMissP90Us: m90,
      mintPlusContextMedianUs: median([...withCtx]),
      cachedLookupMedianUs: median(batches),
      identifyReturningMedianUs: median(ident),
    };
  } finally {
    minter.stop();
  }
}
