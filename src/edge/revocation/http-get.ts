/**
 * One bounded HTTP exchange for revocation data (a CRL from a distribution
 * point, an OCSP answer): node's fetch (undici) with a timeout, no redirects
 * followed beyond a few, and a cap on the body size, so a slow or hostile
 * server can neither hold a check forever nor fill the memory.
 */
export interface HttpExchange {
  url: string;
  timeoutMs: number;
  maxBytes: number;
  /** POST this body (OCSP); default GET */
  body?: Uint8Array;
  contentType?: string;
}

export async function httpExchange(o: HttpExchange): Promise<Buffer> {
  const res = await fetch(o.url, {
    method: o.body ? 'POST' : 'GET',
    body: o.body,
    headers: o.contentType ? { 'content-type': o.contentType } : undefined,
    signal: AbortSignal.timeout(o.timeoutMs),
    redirect: 'follow',
  });
  if (res.status !== 200) { await res.body?.cancel(); throw new Error(`HTTP ${res.status}`); }
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > o.maxBytes) { await res.body?.cancel(); throw new Error(`the answer is ${declared} bytes, over the ${o.maxBytes}-byte limit`); }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body ?? []) {
    size += chunk.length;
    if (size > o.maxBytes) throw new Error(`the answer is over the ${o.maxBytes}-byte limit`);
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}

/** A short reason for a failed exchange (fetch wraps the network error in `cause`). */
export function exchangeError(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError') return 'timed out';
  return e.cause?.code ?? e.cause?.message ?? e.message;
}
