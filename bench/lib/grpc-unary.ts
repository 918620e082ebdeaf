/**
 * Just enough gRPC for the benchmark, on node:http2 (no gRPC library): a unary
 * call is a POST of one length-prefixed message (1 byte "compressed" flag 0,
 * 4-byte big-endian length, the protobuf bytes) with `content-type:
 * application/grpc` and `te: trailers`; it succeeded when the trailers (or a
 * trailers-only answer's headers) say `grpc-status: 0`. The two etcd messages
 * used are built by hand: both are only length-delimited fields.
 */
import type { ClientHttp2Session } from 'node:http2';

/** A protobuf length-delimited field (wire type 2): tag, varint length, bytes. */
function bytesField(fieldNumber: number, value: Buffer): Buffer {
  const length: number[] = [];
  for (let n = value.length; ; n >>>= 7) {
    if (n < 0x80) { length.push(n); break; }
    length.push((n & 0x7f) | 0x80);
  }
  return Buffer.concat([Buffer.from([(fieldNumber << 3) | 2, ...length]), value]);
}

/** etcdserverpb.RangeRequest for one key: field 1 (key). */
export const rangeRequest = (key: string): Buffer => bytesField(1, Buffer.from(key));
/** etcdserverpb.PutRequest: field 1 (key), field 2 (value). */
export const putRequest = (key: string, value: string): Buffer => Buffer.concat([bytesField(1, Buffer.from(key)), bytesField(2, Buffer.from(value))]);

/** One gRPC message as sent on the wire (uncompressed). */
export function grpcFrame(message: Buffer): Buffer {
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  message.copy(frame, 5);
  return frame;
}

/** undefined when the call succeeded (grpc-status 0), else why it did not. */
export function unaryCall(session: ClientHttp2Session, path: string, frame: Buffer, authority: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    let httpStatus: unknown;
    let grpcStatus: unknown;
    let grpcMessage: unknown;
    let error: string | undefined;
    const req = session.request({
      ':method': 'POST', ':path': path, ':authority': authority, 'content-type': 'application/grpc', te: 'trailers',
    });
    req.on('response', (headers) => {
      httpStatus = headers[':status'];
      // a trailers-only answer (an error before any message) carries the status in its headers
      if (headers['grpc-status'] !== undefined) { grpcStatus = headers['grpc-status']; grpcMessage = headers['grpc-message']; }
    });
    req.on('trailers', (trailers) => { grpcStatus = trailers['grpc-status']; grpcMessage = trailers['grpc-message']; });
    req.on('data', () => {}); // the RangeResponse itself is not read
    req.on('error', (err) => { error = err.message; });
    req.on('close', () => {
      if (error) resolve(error);
      else if (grpcStatus === '0') resolve(undefined);
      else if (grpcStatus !== undefined) resolve(`grpc-status ${String(grpcStatus)}${grpcMessage ? `: ${decodeURIComponent(String(grpcMessage))}` : ''}`);
      else resolve(`no grpc-status (HTTP ${String(httpStatus ?? 'none')}, stream closed with code ${req.rstCode})`);
    });
    req.end(frame);
  });
}
