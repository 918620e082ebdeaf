/**
 * Node's own HTTP/1.1 parser (llhttp, through `node:_http_common`), the very
 * parser and flags Node's http server uses: strict (no lenient flag), the same
 * max header size. Using it, rather than a second copy of llhttp, keeps "http
 * mode refuses every request shape Node's server refuses" true by
 * construction; the differential corpus checks it
 * (test/e2e/http1-relay-refuses-what-node-refuses.test.ts).
 *
 * What Node's server adds in JavaScript on top of llhttp, and the HTTP/1.1
 * downstream repeats: HTTP/1.1 requests need a Host header
 * (`requireHostHeader`), CONNECT and Upgrade are not ordinary requests,
 * `Expect` is answered by the server.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** The native binding's surface, as Node's _http_common uses it. */
export interface NativeHttpParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  /** bytes parsed, or an Error with `code` (HPE_…), `reason` and `bytesParsed` */
  execute(data: Buffer): number | ParseError;
  finish(): undefined | ParseError;
  close(): void;
  free(): void;
  [k: number]: unknown;
}

export interface ParseError extends Error { code: string; reason?: string; bytesParsed?: number }

interface HttpParserCtor {
  new(): NativeHttpParser;
  REQUEST: number;
  RESPONSE: number;
  kOnMessageBegin: number;
  kOnHeaders: number;
  kOnHeadersComplete: number;
  kOnBody: number;
  kOnMessageComplete: number;
  kOnExecute: number;
  kLenientNone: number;
}

const common = require('node:_http_common') as { HTTPParser: HttpParserCtor; methods: string[] };
export const HTTPParser = common.HTTPParser;
/** llhttp's method numbers → names */
export const METHODS: readonly string[] = common.methods;

/** What a parser reports; `headersComplete` returns 1 to say "this message has no body" (a response to HEAD). */
export interface ParserEvents {
  messageBegin(): void;
  headersComplete(versionMajor: number, versionMinor: number, rawHeaders: string[], method: number | undefined, url: string, statusCode: number | undefined, statusMessage: string | undefined, upgrade: boolean, shouldKeepAlive: boolean): number | void;
  body(chunk: Buffer): void;
  /** `trailers`: the trailer fields of a chunked message (name, value, …), empty when none */
  messageComplete(trailers: string[]): void;
}

const RESOURCE = {};
const NO_TRAILERS: string[] = [];

/**
 * A parser whose callbacks go to `events`. Header blocks over 32 fields come in
 * pieces (kOnHeaders) before kOnHeadersComplete, as in Node's parserOnHeaders;
 * trailers come the same way after the body (Node's parserOnMessageComplete).
 */
export function createParser(kind: 'request' | 'response', maxHeaderSize: number, events: ParserEvents): NativeHttpParser {
  const p = new HTTPParser();
  p.initialize(kind === 'request' ? HTTPParser.REQUEST : HTTPParser.RESPONSE, RESOURCE, maxHeaderSize, HTTPParser.kLenientNone);
  let pendingHeaders: string[] = [];
  let pendingUrl = '';
  p[HTTPParser.kOnMessageBegin] = () => { pendingHeaders = []; pendingUrl = ''; events.messageBegin(); };
  p[HTTPParser.kOnHeaders] = (headers: string[], url: string) => {
    for (let i = 0; i < headers.length; i++) pendingHeaders.push(headers[i]);
    pendingUrl += url;
  };
  p[HTTPParser.kOnHeadersComplete] = (major: number, minor: number, headers: string[] | undefined, method: number | undefined, url: string | undefined,
    statusCode: number | undefined, statusMessage: string | undefined, upgrade: boolean, keepAlive: boolean) => {
    if (!headers) { headers = pendingHeaders; pendingHeaders = []; } else if (pendingHeaders.length) { headers = pendingHeaders.concat(headers); pendingHeaders = []; }
    if (!url) { url = pendingUrl; }
    pendingUrl = '';
    return events.headersComplete(major, minor, headers, method, url, statusCode, statusMessage, upgrade, keepAlive) ?? 0;
  };
  p[HTTPParser.kOnBody] = (b: Buffer) => events.body(b);
  p[HTTPParser.kOnMessageComplete] = () => {
    const trailers = pendingHeaders.length ? pendingHeaders : NO_TRAILERS;
    pendingHeaders = [];
    events.messageComplete(trailers);
  };
  p[HTTPParser.kOnExecute] = () => {};
  return p;
}
