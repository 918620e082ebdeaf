/**
 * What the admin listener refuses before routing (observe/admin-guard.ts): a
 * Host that is not its address (DNS rebinding), and a state-changing request
 * without X-Countersign-Admin (a cross-site form or fetch).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { adminGuard, adminHostAccepts } from '../../src/observe/index.js';

const cases: { listen: string; hosts?: string[]; accepted: string[]; refused: string[] }[] = [
  {
    listen: '127.0.0.1:9901',
    accepted: ['127.0.0.1:9901', 'localhost:9901', 'LocalHost:9901', '[::1]:9901', '[0:0:0:0:0:0:0:1]:9901', '10.1.2.3:9901'],
    refused: ['evil.example:9901', 'localhost:9902', 'localhost', '127.0.0.1', 'localhost.:9901', 'a@127.0.0.1:9901', '127.0.0.1:9901/x', 'evil.localhost:9901', ''],
  },
  { listen: '0.0.0.0:9901', accepted: ['10.0.0.7:9901', 'localhost:9901'], refused: ['countersign-admin.svc:9901'] },
  { listen: '0.0.0.0:9901', hosts: ['countersign-admin.svc'], accepted: ['Countersign-Admin.svc:9901'], refused: ['countersign-admin.svc:9902'] },
  { listen: 'admin.internal:9901', accepted: ['admin.internal:9901', 'ADMIN.internal:9901'], refused: ['localhost:9901', 'other.internal:9901'] },
  { listen: '10.0.0.5:9901', accepted: ['10.0.0.5:9901'], refused: ['localhost:9901'] },
  { listen: '127.0.0.1:80', accepted: ['localhost', '127.0.0.1', 'localhost:80'], refused: ['evil.example'] },
];

for (const c of cases) {
  test(`Host rule of ${c.listen}${c.hosts ? ` with hosts ${c.hosts}` : ''}`, () => {
    for (const h of c.accepted) assert.equal(adminHostAccepts({ listen: c.listen, hosts: c.hosts }, h), true, `${h} accepted`);
    for (const h of c.refused) assert.equal(adminHostAccepts({ listen: c.listen, hosts: c.hosts }, h), false, `${h} refused`);
  });
}

test('the bound port counts when admin.listen says 0', () => {
  assert.equal(adminHostAccepts({ listen: '127.0.0.1:0', boundPort: 40000 }, 'localhost:40000'), true);
  assert.equal(adminHostAccepts({ listen: '127.0.0.1:0', boundPort: 40000 }, 'localhost:0'), false);
});

test('GET and HEAD need no header; every other method needs X-Countersign-Admin', () => {
  const guard = adminGuard({ listen: '127.0.0.1:9901', socket: false });
  const host = '127.0.0.1:9901';
  assert.equal(guard({ method: 'GET', headers: { host } }), undefined);
  assert.equal(guard({ method: 'HEAD', headers: { host } }), undefined);
  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
    const r = guard({ method, headers: { host, 'content-type': 'text/plain' } });
    assert.equal(r?.status, 403, method);
    assert.match(r!.reason, /X-Countersign-Admin/);
    assert.equal(guard({ method, headers: { host, 'x-countersign-admin': '' } })?.status, 403, `${method} with an empty header`);
    assert.equal(guard({ method, headers: { host, 'x-countersign-admin': '1' } }), undefined, `${method} with the header`);
  }
});

test('a wrong Host is refused first; no Host (HTTP/1.0, a load balancer check) is no browser and passes', () => {
  const guard = adminGuard({ listen: '127.0.0.1:9901', socket: false });
  assert.match(guard({ method: 'POST', headers: { host: 'evil.example:9901', 'x-countersign-admin': '1' } })!.reason, /Host "evil\.example:9901"/);
  assert.equal(guard({ method: 'GET', headers: {} }), undefined);
});

test('a unix socket takes any Host, and still needs the header to change state', () => {
  const guard = adminGuard({ listen: '/run/countersign/admin.sock', socket: true });
  assert.equal(guard({ method: 'GET', headers: { host: 'evil.example' } }), undefined);
  assert.equal(guard({ method: 'POST', headers: { host: 'evil.example' } })?.status, 403);
  assert.equal(guard({ method: 'POST', headers: { host: 'localhost', 'x-countersign-admin': '1' } }), undefined);
});
