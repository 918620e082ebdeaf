/**
 * A 100,000-entry CRL (4.8 MB) is parsed and its signature checked once, when
 * it is loaded, and never again per handshake: after many connections the
 * proxy has done the same CRL work as right after start (counted on
 * /metrics), and a proxy without a CRL does none. The CRL is in use: the
 * client it lists among its 100,000 entries is refused, the others are served.
 * (Work is counted, not time: no timed assertion; the rates are in the benchmark.)
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startHttpsBackend, type HttpsBackend } from '../helpers/node-backend.js';
import { askOnSocket as ask, tlsClient } from '../helpers/e2e.js';
import { bigCrlPem } from '../helpers/crl.js';
import { scrape } from '../helpers/admin-client.js';

let pki: TestPki;
let backend: HttpsBackend;
let withCrl: ProxyProcess;
let without: ProxyProcess;
const HANDSHAKES = 30;

before(async () => {
  pki = await makePki();
  const crl = join(pki.dir, 'big.crl');
  await writeFile(crl, bigCrlPem(pki.pki.clientCa, 100_000, [pki.pki.clients.bob]));
  backend = await startHttpsBackend({ pkiDir: pki.dir });
  const config = (name: string, clientAuth: Record<string, unknown>) => ({
    ...baseConfig(pki.dir, backend.port, { mode: 'http' }, { clientAuth: { mode: 'require', ca: `${pki.dir}/client-ca.crt`, ...clientAuth } }),
    admin: { listen: join(pki.dir, `${name}.admin.sock`) },
  });
  withCrl = await startProxyProcess(await writeConfig(pki.dir, config('crl', { crl }), 'crl.yaml'));
  without = await startProxyProcess(await writeConfig(pki.dir, config('none', {}), 'none.yaml'));
});
after(async () => { await withCrl?.stop(); await without?.stop(); await backend?.close(); });

async function crlWork(proxy: 'crl' | 'none'): Promise<{ parses: number; checks: number }> {
  const m = await scrape(join(pki.dir, `${proxy}.admin.sock`));
  const value = (name: string) => m.get(name)?.samples[0]?.value ?? NaN;
  return { parses: value('countersign_crl_parses_total'), checks: value('countersign_crl_signature_checks_total') };
}

/** `n` new connections (full handshakes) as `who`, one request each; the status lines */
async function connections(port: number, who: string, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const s = await tlsClient(port, pki.dir, who, { ALPNProtocols: ['http/1.1'] });
    out.push(await ask(s, `/c${i}`));
    s.destroy();
  }
  return out;
}

test('the CRL is parsed and verified once at load; handshakes add no CRL work, as without a CRL', async () => {
  const atStart = await crlWork('crl');
  assert.deepEqual(atStart, { parses: 1, checks: 1 }, 'one CRL, parsed once, its signature checked once');
  assert.deepEqual(await crlWork('none'), { parses: 0, checks: 0 });

  const served = await connections(withCrl.port, 'alice', HANDSHAKES);
  assert.deepEqual(served, Array(HANDSHAKES).fill('HTTP/1.1 200 OK'));
  assert.deepEqual(await connections(without.port, 'alice', HANDSHAKES), Array(HANDSHAKES).fill('HTTP/1.1 200 OK'));

  assert.deepEqual(await crlWork('crl'), atStart, `${HANDSHAKES} handshakes later: no CRL parsed or verified again`);
  assert.deepEqual(await crlWork('none'), { parses: 0, checks: 0 });
});

test('the CRL is in use: the client it lists among 100,000 entries is refused', async () => {
  const [status] = await connections(withCrl.port, 'bob', 1);
  assert.match(status, /^HTTP\/1\.1 400/);
  const refused = await withCrl.waitForLog((l) => l.msg === 'client refused' && /CN=bob/.test(String(l.subject)));
  assert.equal(refused.reason, 'revoked');
  assert.deepEqual(await crlWork('crl'), { parses: 1, checks: 1 });
});
