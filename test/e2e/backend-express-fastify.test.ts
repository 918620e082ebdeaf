/**
 * The Express middleware and the Fastify plugin / onRequest hook over real
 * TLS: delegated alice is attached as req.countersign, a forged delegation
 * gets 401 JSON, the policy's refusals are 403 JSON.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import express from 'express';
import Fastify, { type FastifyInstance } from 'fastify';
import {
  countersignExpress, countersignFastify, countersignOf, countersignOnRequest, createIdentifier, createPolicyEngine,
  type GuardOptions, type RequestIdentity,
} from 'countersign/backend';
import { identityOf } from '../../src/pki/certificate-info.js';
import { type IssuedCertificate } from '../../src/pki/dev/issue-certificate.js';
import { backendTestPki, close, forgedDelegation, get, listen, type BackendTestPki } from '../helpers/backend-tls.js';

let pki: BackendTestPki;
let forged: IssuedCertificate;
let guard: GuardOptions;
let expressServer: Server;
let expressPort: number;
let fastify: FastifyInstance;
let fastifyPort: number;

const summary = (id: RequestIdentity | undefined | null) => id && { via: id.via, identity: id.identity, subject: id.subject, policy: id.policy };

before(async () => {
  pki = await backendTestPki();
  forged = await forgedDelegation(pki.alice, pki.forgerCa);
  guard = {
    identifier: createIdentifier({ delegationCAs: pki.delegationCa.certPem }),
    policy: createPolicyEngine({ policies: { app: { allow: ['/whoami', '/v1/key/create/*', 'GET /scoped/*'], identities: [identityOf(pki.alice.cert.raw)] } } }),
  };
  const tls = { key: pki.server.keyPem, cert: pki.server.certPem, ca: pki.serverTrust, requestCert: true, rejectUnauthorized: false };

  const app = express();
  const router = express.Router();
  router.use(countersignExpress(guard));
  router.get('/key/create/:name', (req, res) => { res.json({ ...summary(countersignOf(req)), name: req.params.name }); });
  app.use('/v1', router);
  app.get('/whoami', countersignExpress(guard), (req, res) => { res.json(summary((req as unknown as { countersign: RequestIdentity }).countersign)); });
  expressServer = createServer(tls, app);
  expressPort = await listen(expressServer);

  fastify = Fastify({ https: tls });
  await fastify.register(async (scope) => {
    await scope.register(countersignFastify(guard));
    scope.get('/whoami', async (request) => summary((request as unknown as { countersign: RequestIdentity }).countersign));
  });
  fastify.get('/scoped/route', { onRequest: countersignOnRequest(guard) }, async (request) => summary(countersignOf(request)));
  fastify.get('/open', async (request) => ({ countersign: countersignOf(request) ?? null }));
  await fastify.listen({ port: 0, host: '127.0.0.1' });
  fastifyPort = (fastify.server.address() as AddressInfo).port;
});

after(async () => {
  await close(expressServer);
  await fastify.close();
  pki.minter.stop();
});

const call = (port: number, path: string, who?: { certPem: string; keyPem: string }, method = 'GET') =>
  get({ port, path, method, ca: pki.serverCa.certPem, cert: who?.certPem, key: who?.keyPem });

test('express: delegated alice is attached as req.countersign', async () => {
  const res = await call(expressPort, '/whoami', pki.mintedAlice);
  assert.equal(res.status, 200);
  assert.deepEqual(res.body, { via: 'delegated', identity: identityOf(pki.alice.cert.raw), subject: 'CN=alice, O=Example', policy: 'app' });
});

test('express: a forged delegation is answered 401 JSON and the route never runs', async () => {
  const res = await call(expressPort, '/whoami', forged);
  assert.equal(res.status, 401);
  assert.equal(res.body.code, 'ERR_DELEGATION_UNTRUSTED_ISSUER');
});

test('express: a router mounted under a prefix is authorized on the full path (originalUrl)', async () => {
  const res = await call(expressPort, '/v1/key/create/k1', pki.mintedAlice);
  assert.equal(res.status, 200);
  assert.equal(res.body.name, 'k1');
  assert.equal(res.body.policy, 'app');
});

test('express: the policy refuses with 403 prohibited by policy', async () => {
  const res = await call(expressPort, '/v1/key/delete/k1', pki.mintedAlice);
  assert.equal(res.status, 403);
  assert.deepEqual(res.body, { code: 'ERR_POLICY_DENIED', message: 'prohibited by policy' });
});

test('fastify: the plugin attaches request.countersign for delegated alice', async () => {
  const res = await call(fastifyPort, '/whoami', pki.mintedAlice);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.deepEqual(res.body, { via: 'delegated', identity: identityOf(pki.alice.cert.raw), subject: 'CN=alice, O=Example', policy: 'app' });
});

test('fastify: a forged delegation is answered 401 JSON', async () => {
  const res = await call(fastifyPort, '/whoami', forged);
  assert.equal(res.status, 401);
  assert.equal(res.body.code, 'ERR_DELEGATION_UNTRUSTED_ISSUER');
  assert.match(String(res.headers['content-type']), /^application\/json/);
});

test('fastify: the onRequest hook on one route enforces the policy, method included', async () => {
  assert.equal((await call(fastifyPort, '/scoped/route', pki.mintedAlice)).body.identity, identityOf(pki.alice.cert.raw));
  const post = await call(fastifyPort, '/scoped/route', pki.mintedAlice, 'POST');
  assert.equal(post.status, 404, 'no POST route: the hook is per route');
  const bob = await call(fastifyPort, '/scoped/route', pki.alice);
  assert.equal(bob.status, 401);
  assert.equal(bob.body.code, 'ERR_DIRECT_NOT_ALLOWED');
});

test('fastify: the plugin stays in the scope it was registered in', async () => {
  const res = await call(fastifyPort, '/open', forged);
  assert.equal(res.status, 200);
  assert.deepEqual(res.body, { countersign: null });
});
