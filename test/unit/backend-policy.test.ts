import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isCountersignError } from '../../src/errors.js';
import { CLIENT_DENIAL_MESSAGE, createPolicyEngine, PolicyEngine } from '../../src/backend/policy.js';

const ALICE = 'a'.repeat(64);
const BOB = 'b'.repeat(64);
const ROOT = 'c'.repeat(64);
const STRANGER = 'd'.repeat(64);

const policyError = (fn: () => unknown, message: RegExp) =>
  assert.throws(fn, (err: unknown) => isCountersignError(err, 'ERR_POLICY_INVALID') && message.test(err.message));

function engine(): PolicyEngine {
  return createPolicyEngine({
    policies: {
      'my-app': {
        allow: ['/v1/key/create/my-app-*', '/v1/key/generate/my-app-*', '/v1/key/decrypt/my-app-*', '/v1/status'],
        deny: ['/v1/key/generate/my-app-internal-*'],
        identities: [ALICE],
      },
      'read-only': { allow: ['GET /v1/key/list/*'], identities: [BOB.toUpperCase()] },
      empty: {},
    },
    disabled: [ROOT],
  });
}

test('an allow pattern lets the request through and names the policy', () => {
  assert.deepEqual(engine().authorize(ALICE, 'POST', '/v1/key/create/my-app-1'), { allowed: true, policy: 'my-app' });
});

test('no matching allow pattern: prohibited by policy', () => {
  assert.deepEqual(engine().authorize(ALICE, 'POST', '/v1/key/delete/my-app-1'), { allowed: false, reason: 'prohibited by policy', policy: 'my-app' });
});

test('deny wins over allow', () => {
  const e = engine();
  assert.equal(e.authorize(ALICE, 'POST', '/v1/key/generate/my-app-1').allowed, true);
  assert.deepEqual(e.authorize(ALICE, 'POST', '/v1/key/generate/my-app-internal-1'), { allowed: false, reason: 'prohibited by policy', policy: 'my-app' });
});

test('* does not cross a path segment', () => {
  assert.equal(engine().authorize(ALICE, 'POST', '/v1/key/create/my-app-1/../../delete/x').allowed, false);
});

test('an identity with no policy is an unknown identity', () => {
  assert.deepEqual(engine().authorize(STRANGER, 'GET', '/v1/status'), { allowed: false, reason: 'unknown identity' });
});

test('a disabled identity may never act', () => {
  assert.deepEqual(engine().authorize(ROOT, 'GET', '/v1/status'), { allowed: false, reason: 'identity disabled' });
});

test('a method prefix restricts a pattern to that method', () => {
  const e = engine();
  assert.equal(e.authorize(BOB, 'GET', '/v1/key/list/x').allowed, true);
  assert.equal(e.authorize(BOB, 'get', '/v1/key/list/x').allowed, true);
  assert.equal(e.authorize(BOB, 'DELETE', '/v1/key/list/x').allowed, false);
});

test('identities are compared case-insensitively', () => {
  assert.equal(engine().authorize(BOB.toUpperCase(), 'GET', '/v1/key/list/x').allowed, true);
  assert.equal(engine().policyOf(BOB), 'read-only');
});

test('an empty policy allows nothing', () => {
  const e = engine();
  e.assign(STRANGER, 'empty');
  assert.deepEqual(e.authorize(STRANGER, 'GET', '/v1/status'), { allowed: false, reason: 'prohibited by policy', policy: 'empty' });
});

test('clients are told the same thing whatever the reason', () => {
  assert.equal(CLIENT_DENIAL_MESSAGE, 'prohibited by policy');
});

test('assigning an identity a second time is an error, even to the same policy', () => {
  const e = engine();
  policyError(() => e.assign(ALICE, 'read-only'), /already assigned to policy "my-app"/);
  policyError(() => e.assign(ALICE, 'my-app'), /already assigned/);
  policyError(() => createPolicyEngine({ policies: { a: { identities: [ALICE] }, b: { identities: [ALICE] } } }), /already assigned to policy "a"/);
});

test('a disabled identity cannot be assigned a policy', () => {
  policyError(() => engine().assign(ROOT, 'my-app'), /disabled/);
});

test('assigning to a policy that does not exist is an error listing the known ones', () => {
  policyError(() => engine().assign(STRANGER, 'nope'), /no such policy \(known: my-app, read-only, empty\)/);
});

test('malformed definitions are rejected at construction, with the policy named', () => {
  policyError(() => createPolicyEngine({ policies: { p: { allow: ['/v1/key/['] } } }), /policy "p"\.allow: pattern "\/v1\/key\/\["/);
  policyError(() => createPolicyEngine({ policies: { p: { deny: ['v1/key/*'] } } }), /must start with "\/"/);
  policyError(() => createPolicyEngine({ policies: { p: { allow: [''] } } }), /non-empty/);
  policyError(() => createPolicyEngine({ policies: { p: { identities: ['alice'] } } }), /not an identity/);
  policyError(() => createPolicyEngine({ policies: { p: { allows: [] } as never } }), /unknown key "allows"/);
  policyError(() => createPolicyEngine({ policies: {}, disabled: ['xyz'] }), /disabled\[0\]/);
});
