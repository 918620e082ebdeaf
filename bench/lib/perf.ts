/**
 * Linux `perf` as a second profiler for `--profile`. V8's --cpu-prof cannot see
 * native work that runs from the event loop without entering JavaScript (a
 * TLS handshake driven by a socket read is sampled as "(idle)"), nor the
 * kernel; perf samples the whole process. Symbols are grouped coarsely:
 * kernel (TCP/IP, syscalls, scheduling), OpenSSL (statically linked into
 * node), V8 (builtins, interpreter, GC), JIT-compiled JavaScript, Node/libuv
 * C++, libc (malloc, memcpy). Optional: skipped when perf is missing or not
 * permitted.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';

export const PERF_BIN = process.env.COUNTERSIGN_BENCH_PERF ?? '/usr/bin/perf';

export function perfAvailable(): boolean {
  if (!existsSync(PERF_BIN)) return false;
  const r = spawnSync(PERF_BIN, ['record', '-q', '-o', '/dev/null', '--', 'true'], { encoding: 'utf8' });
  return r.status === 0;
}

/**
 * Starts sampling `pid` for `seconds`; resolves when perf has written `file`.
 * PERF_CALL_GRAPH=fp (or dwarf) records call chains too (`perf report --children`
 * then gives inclusive time; with node's --perf-basic-prof, JavaScript functions by name).
 */
export function perfRecord(pid: number, seconds: number, file: string): { done: Promise<void>; child: ChildProcess } {
  const graph = process.env.PERF_CALL_GRAPH ? ['--call-graph', process.env.PERF_CALL_GRAPH] : [];
  const child = spawn(PERF_BIN, ['record', '-q', '-F', '999', ...graph, '-p', String(pid), '-o', file, '--', 'sleep', String(seconds)], { stdio: 'ignore' });
  const done = new Promise<void>((resolve) => child.on('close', () => resolve()));
  return { done, child };
}

const OPENSSL = /^(__ecp|fe_|fe51|fe64|do_name|ossl|ossl_|OSSL_|EVP_|evp_|SSL_|ssl|tls|dtls|BN_|bn_|ec_|EC_|ecp_|ECDSA|ecdsa|X509|x509|ASN1|asn1|CRYPTO|OPENSSL|aes|_aes|gcm|GCM|sha|SHA|RSA|rsa|PEM|pem|BIO|bio|ERR_|err_|OBJ_|obj_|d2i_|i2d_|c2i_|i2c_|HMAC|hmac|KDF|kdf|RAND|rand|x25519|X25519|v3_|GENERAL_NAME|lh_|OPENSSL_sk|sk_|decoder|encoder|ChaCha|chacha|[Pp]oly1305|hkdf|CONF|conf_|NCONF|DH_|dh_|DSA|dsa|der_|DER_|WPACKET|PACKET|nistz256|felem|fiat_|b2i|a2i|i2a|i2s|s2i|int_|do_ssl3|dane|ct_|CT_|SCT|OCSP|ocsp|PKCS|pkcs|construct_|decode_|encode_|property_|ecx|ECX|EVP|cipher_|md_|mac_|kdf_|keymgmt|provider|algorithm_|ecdh|ECDH|ec_GF|ec_GFp|ec_key|ec_point|ec_scalar|ecp_|OBJ|bn|BN)/;

function category(dso: string, sym: string): string {
  if (dso.startsWith('[kernel')) return 'kernel (TCP/IP, syscalls, scheduling)';
  if (dso.startsWith('[JIT]') || /^perf-\d+\.map$/.test(dso)) return 'JIT-compiled JavaScript';
  if (dso.startsWith('libcrypto') || dso.startsWith('libssl')) return 'OpenSSL';
  if (/^libc[.-]/.test(dso)) return 'libc (malloc, memcpy, locks, …)';
  if (dso === 'nginx' || dso.endsWith('/nginx')) return 'nginx';
  if (dso === 'node' || dso.endsWith('/node')) {
    if (/^(Builtins_|v8::|Runtime_|Builtin_|Interpreter|v8_|heap::|cppgc)/.test(sym) || sym.startsWith('v8::internal')) return 'V8 (builtins, interpreter, GC, runtime)';
    if (OPENSSL.test(sym)) return 'OpenSSL';
    if (/^(node::|uv_|uv__)/.test(sym)) return 'Node.js / libuv C++';
    return 'node binary, other';
  }
  return 'other libraries';
}

export interface PerfSummary { samples: number; byCategory: { category: string; pct: number }[]; top: { pct: number; dso: string; sym: string; category: string }[] }

export function perfSummary(file: string, topN = 25): PerfSummary | undefined {
  const r = spawnSync(PERF_BIN, ['report', '-i', file, '--no-children', '--sort', 'dso,sym', '--stdio', '-g', 'none'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) return undefined;
  const rows: { pct: number; dso: string; sym: string; category: string }[] = [];
  let samples = 0;
  for (const line of r.stdout.split('\n')) {
    const s = /^# Samples: ([\d.]+)([KM]?)/.exec(line);
    if (s) samples += Number(s[1]) * (s[2] === 'K' ? 1000 : s[2] === 'M' ? 1e6 : 1);
    const m = /^\s+([\d.]+)%\s+(\S+(?: tid \d+)?)\s+\[[.k]\]\s+(.*)$/.exec(line);
    if (!m) continue;
    const sym = m[3].trim();
    rows.push({ pct: Number(m[1]), dso: m[2], sym, category: category(m[2], sym) });
  }
  const cats = new Map<string, number>();
  for (const x of rows) cats.set(x.category, (cats.get(x.category) ?? 0) + x.pct);
  return {
    samples,
    byCategory: [...cats.entries()].sort((a, b) => b[1] - a[1]).map(([category, pct]) => ({ category, pct: Math.round(pct * 10) / 10 })),
    top: rows.slice(0, topN),
  };
}
