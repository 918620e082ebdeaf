/**
 * `host:port` as the config writes it (`127.0.0.1:8443`, `[::1]:8443`,
 * `kes.internal:7373`): the one parser, used by the schema to validate and by
 * everything that then needs the parts.
 */
import { CountersignError } from '../errors.js';

export interface HostPort {
  /** without brackets for IPv6 */
  host: string;
  port: number;
}

const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):(\d{1,5})$/;

/** The parts of `host:port`, or undefined when it is not one (a port over 65535 included). */
export function parseHostPort(s: string): HostPort | undefined {
  const m = HOST_PORT.exec(s);
  if (!m) return undefined;
  const port = Number(m[2]);
  if (port > 65535) return undefined;
  return { host: m[1].startsWith('[') ? m[1].slice(1, -1) : m[1], port };
}

/** Like parseHostPort, for a value the schema has already validated; throws ERR_CONFIG_INVALID otherwise. */
export function hostPortOf(s: string): HostPort {
  const hp = parseHostPort(s);
  if (!hp) throw new CountersignError('ERR_CONFIG_INVALID', `"${s}" is not host:port (e.g. 127.0.0.1:8443 or [::1]:8443)`);
  return hp;
}

/** `host:port` as the config writes it: an IPv6 host in brackets, so parseHostPort reads it back. */
export function formatHostPort(hp: HostPort): string {
  return `${hp.host.includes(':') ? `[${hp.host}]` : hp.host}:${hp.port}`;
}
