/**
 * A large CRL is parsed in slices (src/edge/revocation/crl.ts): the event
 * loop runs between them, so loading or fetching a 100,000-entry CRL does not
 * stall the connections of the process, and the result is the same CRL the
 * one-piece parse reads.
 */
import 'reflect-metadata';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { issueCertificate } from '../../src/pki/dev/index.js';
import { parseCrl, parseCrlInSlices } from '../../src/edge/revocation/index.js';
import { pemBlocks } from '../../src/pki/index.js';
import { bigCrlPem } from '../helpers/crl.js';

test('a 50,000-entry CRL parsed in slices lets timers run meanwhile and reads the same serials as the one-piece parse', async () => {
  const ca = await issueCertificate({ subject: 'CN=slices CA', ca: true });
  const alice = await issueCertificate({ subject: 'CN=alice', issuer: ca });
  const der = pemBlocks(bigCrlPem(ca, 50_000, [alice]))[0]!.der;
  let ticks = 0;
  const timer = setInterval(() => { ticks++; }, 0);
  const sliced = await parseCrlInSlices(der, 'big.crl');
  clearInterval(timer);
  assert.ok(ticks >= 5, `timers ran ${ticks} times while the CRL was parsed`);
  const whole = parseCrl(der, 'big.crl');
  assert.equal(sliced.revoked.size, 50_001);
  assert.deepEqual([...sliced.revoked], [...whole.revoked]);
  assert.equal(sliced.issuerKey, whole.issuerKey);
  assert.equal(sliced.thisUpdate.getTime(), whole.thisUpdate.getTime());
  assert.equal(sliced.signedBy(ca.cert), true);
});

test('a broken CRL is refused the same way in slices as in one piece', async () => {
  const ca = await issueCertificate({ subject: 'CN=slices CA', ca: true });
  const der = pemBlocks(bigCrlPem(ca, 10_000))[0]!;
  const cut = der.der.subarray(0, der.der.length - 100);
  assert.throws(() => parseCrl(cut, 'cut.crl'), { code: 'ERR_CRL_INVALID' });
  await assert.rejects(parseCrlInSlices(cut, 'cut.crl'), { code: 'ERR_CRL_INVALID' });
});
