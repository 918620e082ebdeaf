/**
 * Real L4 balancers in front of (or behind) countersign for the PROXY protocol
 * tests: HAProxy in `mode tcp` and nginx with its stream module (Debian's
 * libnginx-mod-stream), each from a config text in a fresh temp directory, in
 * the foreground, stopped by pid.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NGINX_BIN, waitForPort } from './nginx.js';

export interface RunningProcess { dir: string; output(): string; stop(): Promise<void> }

async function run(cmd: string, args: (dir: string) => string[], files: (dir: string) => Record<string, string>, port: number): Promise<RunningProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'countersign-l4-'));
  for (const [name, content] of Object.entries(files(dir))) await writeFile(join(dir, name), content);
  const child: ChildProcess = spawn(cmd, args(dir), { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { out += d; });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try {
    await waitForPort(port, { alive: () => child.exitCode === null });
  } catch (err) {
    throw new Error(`${cmd} did not start: ${(err as Error).message}\n${out}`);
  }
  return {
    dir,
    output: () => out,
    stop: async () => {
      if (child.exitCode === null && child.pid) {
        process.kill(child.pid, 'SIGTERM');
        const t = setTimeout(() => { if (child.exitCode === null && child.pid) process.kill(child.pid, 'SIGKILL'); }, 5000);
        await exited;
        clearTimeout(t);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** HAProxy, mode tcp: listens on `port`, forwards to `to` with `send-proxy-v2` (or v1 with `send-proxy`). */
export function startHaproxy(o: { port: number; to: string; send: 'send-proxy' | 'send-proxy-v2' }): Promise<RunningProcess> {
  const cfg = [
    'global', '  maxconn 256',
    'defaults', '  mode tcp', '  timeout connect 5s', '  timeout client 30s', '  timeout server 30s',
    'frontend front', `  bind 127.0.0.1:${o.port}`, '  default_backend back',
    'backend back', `  server s1 ${o.to} ${o.send}`, '',
  ].join('\n');
  return run('haproxy', (dir) => ['-db', '-f', join(dir, 'haproxy.cfg')], () => ({ 'haproxy.cfg': cfg }), o.port);
}

/** nginx with the given top-level blocks (`stream { … }`, `http { … }`); the stream module is loaded. */
export function startNginxWith(o: { port: number; blocks: (dir: string) => string }): Promise<RunningProcess> {
  const user = process.getuid?.() === 0 ? 'user root;\n' : '';
  return run(NGINX_BIN, (dir) => ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log'), '-g', 'daemon off;'], (dir) => ({
    'nginx.conf': `load_module /usr/lib/nginx/modules/ngx_stream_module.so;
${user}worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
events { worker_connections 256; }
${o.blocks(dir)}
`,
  }), o.port);
}

/** The temp paths an nginx `http { }` block needs inside its own directory. */
export const nginxHttpTemps = (dir: string) => ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `${t}_temp_path ${dir}/${t};`).join('\n  ');
