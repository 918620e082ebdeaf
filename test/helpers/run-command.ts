/** Runs a real external program (curl, openssl) and collects what it printed. */
import { spawn } from 'node:child_process';

export interface CommandResult { code: number | null; stdout: string; stderr: string }

export function runCommand(cmd: string, args: string[], opts: { input?: string | Buffer; timeoutMs?: number; cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', (err) => { clearTimeout(timer); reject(err); });
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
    // a program that exits without reading its input (curl) makes the write fail with EPIPE; its exit code tells
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}

/** curl with the given client identity from a PKI directory (or none). */
export function curl(pkiDir: string, who: string | undefined, url: string, extra: string[] = []): Promise<CommandResult> {
  const auth = who ? ['--cert', `${pkiDir}/${who}.crt`, '--key', `${pkiDir}/${who}.key`] : [];
  return runCommand('curl', ['-sS', '--max-time', '10', '--cacert', `${pkiDir}/edge-ca.crt`, ...auth, '-w', '\n%{http_code}', ...extra, url]);
}

/** Splits curl's `-w '\n%{http_code}'` output into body and status. */
export function curlStatus(r: CommandResult): { status: number; body: string } {
  const i = r.stdout.lastIndexOf('\n');
  return { status: Number(r.stdout.slice(i + 1)), body: r.stdout.slice(0, i) };
}
