/**
 * What the ACME manager accepts at start-up, and the renewal/backoff arithmetic.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  createAcmeManager, directoryKey, parseListen, renewalDueAt, resolveDirectory, retryDelayMs, type AcmeManagerOptions,
} from '../../src/edge/acme/index.js';
import { isCountersignError } from '../../src/errors.js';
import { DEFAULT_ACME_TIMING } from '../../src/config/index.js';

const base: AcmeManagerOptions = { directory: 'letsencrypt-staging', domains: ['a.example.com'], challenge: 'tls-alpn-01', storage: '/tmp/unused' };
const refuses = (o: Partial<AcmeManagerOptions>, path: RegExp) => assert.throws(() => createAcmeManager({ ...base, ...o }), (err) => {
  assert.ok(isCountersignError(err, 'ERR_CONFIG_INVALID'));
  assert.match(err.message, path);
  return true;
});

describe('ACME options', () => {
  it('accepts the words letsencrypt and letsencrypt-staging', () => {
    assert.equal(resolveDirectory('letsencrypt'), 'https://acme-v02.api.letsencrypt.org/directory');
    assert.equal(resolveDirectory('letsencrypt-staging'), 'https://acme-staging-v02.api.letsencrypt.org/directory');
  });

  it('refuses a plain-http or unparsable directory', () => {
    refuses({ directory: 'http://ca.internal/acme/directory' }, /^acme\.directory: .*https/);
    refuses({ directory: 'letsencrypt-prod' }, /^acme\.directory: .*letsencrypt, letsencrypt-staging/);
  });

  it('refuses wildcard domains, which need dns-01', () => {
    refuses({ domains: ['*.example.com'] }, /^acme\.domains: .*dns-01/);
  });

  it('refuses an empty domain list and names that are not DNS names', () => {
    refuses({ domains: [] }, /^acme\.domains/);
    refuses({ domains: ['exa mple.com'] }, /^acme\.domains/);
  });

  it('needs httpListen for http-01', () => {
    refuses({ challenge: 'http-01' }, /^acme\.httpListen: .*port 80/);
    refuses({ challenge: 'dns-01' as 'http-01' }, /^acme\.challenge/);
  });

  it('needs both halves of an EAB', () => {
    refuses({ eab: { kid: 'k', hmacKey: '' } }, /^acme\.eab/);
  });

  it('parses listen addresses', () => {
    assert.deepEqual(parseListen('0.0.0.0:80'), { host: '0.0.0.0', port: 80 });
    assert.deepEqual(parseListen('[::]:8080'), { host: '::', port: 8080 });
    // the config's one host:port parser: a host is always written
    for (const bad of ['80', ':80', '0.0.0.0:65536']) assert.throws(() => parseListen(bad), (err) => isCountersignError(err, 'ERR_CONFIG_INVALID') && /acme\.httpListen/.test(err.message), bad);
  });

  it('keys storage by directory so staging and production never mix', () => {
    assert.equal(directoryKey('https://acme-v02.api.letsencrypt.org/directory'), 'acme-v02.api.letsencrypt.org-directory');
    assert.equal(directoryKey('https://127.0.0.1:14000/dir'), '127.0.0.1_14000-dir');
    assert.notEqual(directoryKey(resolveDirectory('letsencrypt')), directoryKey(resolveDirectory('letsencrypt-staging')));
  });
});

describe('renewal policy', () => {
  it('renews when a third of the lifetime remains, whatever the lifetime', () => {
    const day = 86400_000;
    const nb = new Date('2026-01-01T00:00:00Z');
    assert.equal(renewalDueAt({ notBefore: nb, notAfter: new Date(nb.getTime() + 90 * day) }, DEFAULT_ACME_TIMING.renewalWindowRatio).toISOString(), '2026-03-02T00:00:00.000Z');
    assert.equal(renewalDueAt({ notBefore: nb, notAfter: new Date(nb.getTime() + 9_000) }, DEFAULT_ACME_TIMING.renewalWindowRatio).getTime() - nb.getTime(), 6_000);
  });

  it('doubles the retry delay up to the cap, with jitter inside [half, full]', () => {
    const policy = { minMs: 1_000, maxMs: 10_000 };
    for (const [failures, full] of [[1, 1_000], [2, 2_000], [3, 4_000], [4, 8_000], [5, 10_000], [50, 10_000]] as const) {
      assert.equal(retryDelayMs(failures, { ...policy, random: () => 0 }), full / 2);
      assert.equal(retryDelayMs(failures, { ...policy, random: () => 0.999999 }), full);
    }
  });
});
