/**
 * Header lists for node:http2 as raw lists (name, value, …) where this Node
 * takes them: `session.request()` since Node 24.0 / 22.17, `stream.respond()`
 * since 24.7 / 22.20. A raw list goes to nghttp2 as it is; a header object is
 * copied and walked again (and our fields are lists to begin with): measured
 * with bench/grpc.ts, docs/performance.md. On an older Node (package.json's
 * engines allow 22.14) the same list is folded into an object, as before.
 */
import type { OutgoingHttpHeaders } from 'node:http2';

function atLeast(major: number, minor: number): boolean {
  const [ma, mi] = process.versions.node.split('.').map(Number);
  return ma === major ? mi >= minor : false;
}

const newerMajor = Number(process.versions.node.split('.')[0]) > 24;
/** `ClientHttp2Session.request()` takes a raw list */
export const RAW_REQUEST_HEADERS = newerMajor || atLeast(24, 0) || atLeast(22, 17);
/** `ServerHttp2Stream.respond()` takes a raw list */
export const RAW_RESPONSE_HEADERS = newerMajor || atLeast(24, 7) || atLeast(22, 20);

/** `list` as this Node's http2 takes it: the list itself, or a header object (repeated names as arrays). */
export function http2Headers(list: string[], raw: boolean): string[] | OutgoingHttpHeaders {
  if (raw) return list;
  const out: OutgoingHttpHeaders = {};
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i];
    const v = out[name];
    if (v === undefined) out[name] = list[i + 1];
    else if (Array.isArray(v)) v.push(list[i + 1]);
    else out[name] = [String(v), list[i + 1]];
  }
  return out;
}
