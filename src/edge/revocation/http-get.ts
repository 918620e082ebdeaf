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

export async function httpExchange(exchange: HttpExchange): Promise<Buffer> {
  const res = await fetch(exchange.url, {
    method: exchange.body ? 'POST' : 'GET',
    body: exchange.body,
    headers: exchange.contentType ? { 'content-type': exchange.contentType } : undefined,
    signal: AbortSignal.timeout(exchange.timeoutMs),
    redirect: 'follow',
  });
  if (res.status !== 200) { await res.body?.cancel(); throw new Error(`HTTP ${res.status}`); }
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > exchange.maxBytes) { await res.body?.cancel(); throw new Error(`the answer is ${declared} bytes, over the ${exchange.maxBytes}-byte limit`); }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body ?? []) {
    size += chunk.length;
    if (size > exchange.maxBytes) throw new Error(`the answer is over the ${exchange.maxBytes}-byte limit`);
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
