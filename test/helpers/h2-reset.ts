/**
 * Drives test/helpers/h2-reset-client.py: a real HTTP/2 client (Python's h2)
 * that opens streams and cancels each at once (HEADERS, then RST_STREAM), or
 * (holdS) opens them all, reads their answers a while, then cancels them.
 */
import { join } from 'node:path';
import { REPO_ROOT } from './proxy-process.js';
import { runCommand } from './run-command.js';

export interface H2ResetResult {
  alpn: string | null;
  resetsSent: number;
  /** the server's GOAWAY, if one came */
  goaway: { errorCode: number; lastStreamId: number } | null;
  /** the answer to the request sent after the resets (`final`), if any */
  final: { status: number } | null;
  closed: boolean;
}

export async function h2Resets(port: number, pkiDir: string, who: string, o: { resets: number; path?: string; final?: string; timeoutS?: number; holdS?: number; settleS?: number }): Promise<H2ResetResult> {
  const r = await runCommand('/usr/bin/python3', [
    join(REPO_ROOT, 'test/helpers/h2-reset-client.py'), '127.0.0.1', String(port), `${pkiDir}/edge-ca.crt`, `${pkiDir}/${who}.crt`, `${pkiDir}/${who}.key`,
    '--resets', String(o.resets), '--path', o.path ?? '/', ...(o.final ? ['--final', o.final] : []), ...(o.holdS ? ['--hold', String(o.holdS)] : []), ...(o.settleS ? ['--settle', String(o.settleS)] : []), '--timeout', String(o.timeoutS ?? 20),
  ], { timeoutMs: ((o.timeoutS ?? 20) + 20) * 1000 });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try { return JSON.parse(line) as H2ResetResult; } catch { throw new Error(`h2-reset-client.py printed no result (exit ${r.code}): ${r.stdout} ${r.stderr}`); }
}
