/**
 * Header formats that state names for the backend to act on —
 * `k8s-front-proxy` (X-Remote-User from the CN, X-Remote-Group from each O)
 * and `xfcc` (Subject=, URI=, DNS=) — cannot be used with clientAuth mode any,
 * where a self-signed `CN=root, O=system:masters` would become the API
 * server's root in its admin group: `check` refuses the route saying why, and
 * `start` refuses it too. The formats that carry the certificate itself (`kes`,
 * `rfc9440`; the backend decides by its key) stay allowed.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { makePki, writeConfig, runCli, baseConfig, type TestPki } from '../helpers/proxy-process.js';

let pki: TestPki;

before(async () => { pki = await makePki(); });

async function configWith(header: string, clientAuth: Record<string, unknown>, name: string): Promise<string> {
  const config = baseConfig(pki.dir, 7443, {
    mode: 'http', identity: 'header', header,
    proxyCert: { cert: pki.file('proxy-client.crt'), key: pki.file('proxy-client.key') },
  }, { clientAuth });
  return writeConfig(pki.dir, config, name);
}

for (const header of ['k8s-front-proxy', 'xfcc']) {
  test(`check refuses header: ${header} with clientAuth mode any, with or without a ca, and says why`, async () => {
    for (const [i, clientAuth] of [{ mode: 'any' }, { mode: 'any', ca: pki.file('client-ca.crt') }].entries()) {
      const file = await configWith(header, clientAuth, `${header}-${i}.yaml`);
      const r = await runCli(['check', '--config', file]);
      assert.equal(r.code, 1, `${r.stdout}${r.stderr}`);
      assert.match(r.stderr, new RegExp(`routes\\[0\\]\\.header: "${header}" sends the client's names`));
      assert.match(r.stderr, /with edge\.clientAuth\.mode: any no CA vouches for them: a self-signed certificate could name itself/);
      assert.match(r.stderr, /Use header: kes or rfc9440/);
      const start = await runCli(['start', '--config', file]);
      assert.notEqual(start.code, 0, 'start refuses what check refuses');
      assert.match(start.stderr, new RegExp(`routes\\[0\\]\\.header: "${header}"`));
    }
  });

  test(`check accepts header: ${header} with clientAuth mode require`, async () => {
    const r = await runCli(['check', '--config', await configWith(header, { mode: 'require', ca: pki.file('client-ca.crt') }, `${header}-require.yaml`)]);
    assert.equal(r.code, 0, `${r.stdout}${r.stderr}`);
  });
}

test('check accepts the certificate-carrying formats (kes, rfc9440) with clientAuth mode any', async () => {
  for (const header of ['kes', 'rfc9440']) {
    const r = await runCli(['check', '--config', await configWith(header, { mode: 'any' }, `${header}-any.yaml`)]);
    assert.equal(r.code, 0, `${header}: ${r.stdout}${r.stderr}`);
  }
});
