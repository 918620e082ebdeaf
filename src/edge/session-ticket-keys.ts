/**
 * TLS session-ticket keys from a file shared by a fleet (nginx's
 * `ssl_session_ticket_key` habit), so a client's session resumes on whichever
 * instance takes its next connection.
 *
 * The file is raw random bytes, made with `openssl rand 80 > tickets.key`
 * (mode 0600), in one of nginx's two layouts:
 *
 *   80 bytes: key name (16) | HMAC secret (32) | AES key (32)   nginx, AES-256
 *   48 bytes: key name (16) | AES key (16)     | HMAC secret (16)   nginx, AES-128
 *
 * Node's `tls.Server#setTicketKeys` takes 48 bytes in its own order — name
 * (16) | HMAC secret (16) | AES-128 key (16) — and encrypts tickets with
 * AES-128-CBC and HMAC-SHA256. So an 80-byte key maps to the name, the first
 * 16 bytes of the HMAC secret and the first 16 bytes of the AES key; a 48-byte
 * key is reordered. Every instance that reads the same file derives the same
 * 48 bytes. (The tickets are not interchangeable with nginx's: nginx uses
 * AES-256 with an 80-byte key.)
 *
 * Node holds one ticket key, not nginx's list of decrypt-only older keys: when
 * the file changes, tickets issued under the previous key stop resuming and
 * those clients make one full handshake. Rotate by replacing the file on every
 * instance (an atomic rename; it is watched and re-read, and SIGHUP re-reads it
 * too); a bad new file is refused with a log line and the previous key stays.
 */
import { readFileSync, statSync } from 'node:fs';
import { CountersignError } from '../errors.js';

/** Node's 48-byte ticket key for the key file's content. */
export function nodeTicketKeys(file: Buffer, what = 'edge.sessionTickets.keyFile'): Buffer {
  if (file.length === 80) return Buffer.concat([file.subarray(0, 16), file.subarray(16, 32), file.subarray(48, 64)]);
  if (file.length === 48) return Buffer.concat([file.subarray(0, 16), file.subarray(32, 48), file.subarray(16, 32)]);
  throw new CountersignError('ERR_TICKET_KEY', `${what}: a session-ticket key file holds 80 or 48 random bytes (make one with \`openssl rand 80 > tickets.key\`), not ${file.length}`);
}

export interface TicketKeyFile {
  keys: Buffer;
  /** true when group or others may read the file (it should be 0600) */
  readableByOthers: boolean;
}

export function readTicketKeyFile(path: string, what = 'edge.sessionTickets.keyFile'): TicketKeyFile {
  let content: Buffer;
  let mode: number;
  try {
    content = readFileSync(path);
    mode = statSync(path).mode;
  } catch (err) {
    throw new CountersignError('ERR_TICKET_KEY', `${what}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
  }
  return { keys: nodeTicketKeys(content, what), readableByOthers: (mode & 0o077) !== 0 };
}
