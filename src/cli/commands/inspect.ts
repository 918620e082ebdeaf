/**
 * `countersign inspect FILE [--oid OID] [--json]`: what a certificate says,
 * and for a certificate minted by countersign, what its delegation extension
 * says about the original client certificate. Names are printed in DER order
 * by the same formatter for the certificate and for the extension, so a minted
 * certificate's subject and its "original subject" read identically.
 */
import { readFile } from 'node:fs/promises';
import { X509Certificate } from 'node:crypto';
import { isCountersignError } from '../../errors.js';
import { DELEGATION_OID, decodeDelegationExtension, nameToString } from '../../delegation/index.js';
import { describeCertificate, sha256, formatDerName, certificatesDer, findExtension, serialHex } from '../../pki/index.js';
import { didYouMean } from '../../did-you-mean.js';
import type { CliIo, Command } from '../command.js';

const USAGE = 'countersign inspect FILE [--oid OID] [--json]';
const HELP = `usage: ${USAGE}\n  FILE   a certificate or bundle, PEM or DER\n  --oid  delegation extension OID (default ${DELEGATION_OID})\n  --json print JSON instead of text`;

export interface DelegationReport {
  oid: string;
  version: number;
  originalIdentity: string;
  originalSha256: string;
  originalSha1: string;
  originalSubject: string;
  originalIssuer: string;
  originalSerial: string;
  originalNotAfter: string;
  /** a client CA vouched for the original's names (false: the minted subject is CN=<identity>, and no backend may authorize by them) */
  namesVouched: boolean;
  /** whether the whole original certificate is embedded, and if so whether it matches originalSha256 */
  embedded: false | { bytes: number; matchesSha256: boolean };
}

export interface CertificateReport {
  subject: string;
  issuer: string;
  serial: string;
  notBefore: string;
  notAfter: string;
  identity: string;
  sha256: string;
  sha1: string;
  subjectAltNames: string[];
  ca: boolean;
  delegation?: DelegationReport;
  /** set when the delegation extension is present but cannot be decoded */
  delegationError?: string;
}

export function inspectCertificate(der: Buffer, oid = DELEGATION_OID): CertificateReport {
  const info = describeCertificate(der);
  const x = new X509Certificate(der);
  const report: CertificateReport = {
    subject: formatDerName(info.fields.subject),
    issuer: formatDerName(info.fields.issuer),
    serial: info.serial,
    notBefore: info.notBefore.toISOString(),
    notAfter: info.notAfter.toISOString(),
    identity: info.identity,
    sha256: info.certSha256,
    sha1: info.certSha1,
    subjectAltNames: x.subjectAltName ? x.subjectAltName.split(', ') : [],
    ca: x.ca,
  };
  const ext = findExtension(info.fields, oid);
  if (ext) {
    try {
      const d = decodeDelegationExtension(ext.value);
      report.delegation = {
        oid,
        version: d.version,
        originalIdentity: d.spkiSha256.toString('hex'),
        originalSha256: d.certSha256.toString('hex'),
        originalSha1: d.certSha1.toString('hex').toUpperCase(),
        originalSubject: nameToString(d.subject),
        originalIssuer: nameToString(d.issuer),
        originalSerial: serialHex(d.serial),
        originalNotAfter: d.notAfter.toISOString(),
        namesVouched: d.namesVouched,
        embedded: d.certificate ? { bytes: d.certificate.length, matchesSha256: sha256(d.certificate).equals(d.certSha256) } : false,
      };
    } catch (err) {
      if (!isCountersignError(err)) throw err;
      report.delegationError = `${err.code}: ${err.message}`;
    }
  }
  return report;
}

function printText(r: CertificateReport, io: CliIo): void {
  const row = (k: string, v: string) => io.out(`  ${(k + ':').padEnd(20)}${v}`);
  row('subject', r.subject);
  row('issuer', r.issuer);
  row('serial', r.serial);
  row('not before', r.notBefore);
  row('not after', r.notAfter);
  row('identity', r.identity);
  row('sha256', r.sha256);
  row('sha1', r.sha1);
  row('subjectAltName', r.subjectAltNames.length ? r.subjectAltNames.join(', ') : '(none)');
  row('CA', r.ca ? 'yes' : 'no');
  if (r.delegationError) {
    io.out(`  delegation extension: MALFORMED (${r.delegationError})`);
  } else if (r.delegation) {
    const d = r.delegation;
    io.out(`  delegation extension ${d.oid} (version ${d.version}):`);
    const sub = (k: string, v: string) => io.out(`    ${(k + ':').padEnd(20)}${v}`);
    sub('original identity', d.originalIdentity);
    sub('original sha256', d.originalSha256);
    sub('original sha1', d.originalSha1);
    sub('original subject', d.originalSubject);
    sub('original issuer', d.originalIssuer);
    sub('original serial', d.originalSerial);
    sub('original not after', d.originalNotAfter);
    sub('names vouched', d.namesVouched ? 'yes (a client CA vouched for the original\'s names)' : 'no (no CA vouched for them: authorize by identity only)');
    sub('original embedded', d.embedded ? `yes (${d.embedded.bytes} bytes, ${d.embedded.matchesSha256 ? 'matches' : 'DOES NOT match'} original sha256)` : 'no');
  } else {
    io.out('  delegation extension: none');
  }
}

export const command: Command = {
  name: 'inspect',
  summary: 'show a certificate, and the delegation extension of a countersigned one',
  usage: USAGE,
  help: HELP,
  async run(args: string[], io: CliIo): Promise<number> {
    if (args.includes('--help') || args.includes('-h')) { io.out(HELP); return 0; }
    let oid = DELEGATION_OID;
    let json = false;
    const files: string[] = [];
    for (let i = 0; i < args.length; i++) {
      const a = args[i];
      if (a === '--json') json = true;
      else if (a === '--oid' || a.startsWith('--oid=')) {
        const v = a === '--oid' ? args[++i] : a.slice(6);
        if (!v || !/^[0-2](\.(0|[1-9][0-9]*))+$/.test(v)) { io.err(`countersign inspect: --oid needs a dotted OID, got "${v ?? ''}"`); io.err(`usage: ${USAGE}`); return 2; }
        oid = v;
      } else if (a.startsWith('-')) { io.err(`countersign inspect: unknown option "${a}"${didYouMean(a.split('=')[0], ['--oid', '--json'], '')}`); io.err(`usage: ${USAGE}`); return 2; }
      else files.push(a);
    }
    if (files.length !== 1) { io.err(`countersign inspect: ${files.length === 0 ? 'missing FILE' : 'expected one FILE'}`); io.err(`usage: ${USAGE}`); return 2; }
    const file = files[0];
    let reports: CertificateReport[];
    try {
      reports = certificatesDer(await readFile(file), file).map((der) => inspectCertificate(der, oid));
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const message = e.code === 'ENOENT' ? `${file}: no such file` : isCountersignError(err, 'ERR_PEM_INVALID') ? e.message : `${file}: ${e.message}`;
      io.err(`countersign inspect: ${message}`);
      return 1;
    }
    if (json) io.out(JSON.stringify(reports.length === 1 ? reports[0] : reports, null, 2));
    else {
      reports.forEach((r, i) => {
        io.out(reports.length > 1 ? `certificate ${i + 1} of ${reports.length} in ${file}:` : `certificate ${file}:`);
        printText(r, io);
      });
    }
    const bad = reports.find((r) => r.delegationError);
    if (bad) { io.err(`countersign inspect: ${file}: the delegation extension cannot be decoded (${bad.delegationError})`); return 1; }
    return 0;
  },
};
