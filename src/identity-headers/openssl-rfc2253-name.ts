/**
 * A DER Name printed as OpenSSL's `X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253)`
 * prints it — the form Envoy puts in XFCC `Subject="…"` (and what
 * `openssl x509 -noout -subject -nameopt RFC2253` shows), so a backend that
 * already parses Envoy's header sees the same bytes from countersign.
 *
 * What XN_FLAG_RFC2253 means, as implemented in OpenSSL's crypto/asn1/a_strex.c:
 * - entries in reverse order (DN_REV), "," between RDNs and "+" inside a
 *   multi-valued RDN, no spaces (SEP_COMMA_PLUS); the reversal is per entry, so
 *   the members of a multi-valued RDN come out reversed too;
 * - short attribute names (FN_SN); an attribute OpenSSL does not know is printed
 *   as its dotted OID with the value dumped as "#" + hex of its DER (DUMP_UNKNOWN_FIELDS);
 * - values converted to UTF-8, then escaped: `, + " \ < > ;` with a backslash,
 *   "#" or " " first and " " last with a backslash (a one-character value counts
 *   only as last), control characters and
 *   every byte >= 0x80 as "\XX" (upper-case hex) — so "é" prints as "\C3\A9";
 * - a value of a type that is not a string type is dumped as "#" + hex DER.
 *
 * Exact for the attributes in SHORT_NAMES below (the ones certificates use);
 * an attribute OpenSSL knows but this table does not would print here as
 * OID=#DER where OpenSSL prints its name and text.
 */
import { der } from '../pki/index.js';

const { TAG, content, decodeOid, expectTag, raw, readChildren, readRoot } = der;

/** OpenSSL's short names (crypto/objects/objects.txt) for name attributes. */
const SHORT_NAMES: Readonly<Record<string, string>> = {
  '2.5.4.3': 'CN',
  '2.5.4.4': 'SN',
  '2.5.4.5': 'serialNumber',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.9': 'street',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.12': 'title',
  '2.5.4.13': 'description',
  '2.5.4.15': 'businessCategory',
  '2.5.4.17': 'postalCode',
  '2.5.4.41': 'name',
  '2.5.4.42': 'GN',
  '2.5.4.43': 'initials',
  '2.5.4.44': 'generationQualifier',
  '2.5.4.45': 'x500UniqueIdentifier',
  '2.5.4.46': 'dnQualifier',
  '2.5.4.65': 'pseudonym',
  '2.5.4.72': 'role',
  '2.5.4.97': 'organizationIdentifier',
  '1.2.840.113549.1.9.1': 'emailAddress',
  '1.2.840.113549.1.9.2': 'unstructuredName',
  '0.9.2342.19200300.100.1.1': 'UID',
  '0.9.2342.19200300.100.1.25': 'DC',
  '1.3.6.1.4.1.311.60.2.1.1': 'jurisdictionL',
  '1.3.6.1.4.1.311.60.2.1.2': 'jurisdictionST',
  '1.3.6.1.4.1.311.60.2.1.3': 'jurisdictionC',
};

/**
 * Bytes a character of each string tag takes, as OpenSSL's `tag2nbyte`:
 * UTF8String is walked byte by byte (it is UTF-8 already), the 1-byte types
 * are taken as Latin-1 code points, BMPString as UTF-16BE units, UniversalString
 * as UCS-4. Tags not listed are not strings and are dumped.
 */
const CHAR_WIDTH: Readonly<Record<number, 'utf8' | 1 | 2 | 4>> = {
  0x0c: 'utf8', // UTF8String
  0x12: 1, // NumericString
  0x13: 1, // PrintableString
  0x14: 1, // T61String
  0x16: 1, // IA5String
  0x17: 1, // UTCTime
  0x18: 1, // GeneralizedTime
  0x1a: 1, // VisibleString (ISO646String)
  0x1c: 4, // UniversalString
  0x1e: 2, // BMPString
};

const HEX = '0123456789ABCDEF';
const hexByte = (b: number) => '\\' + HEX[b >> 4] + HEX[b & 0xf];
/** RFC 2253 specials OpenSSL escapes with a backslash anywhere in a value. */
const BACKSLASH_ESCAPED = new Set([0x2c, 0x2b, 0x22, 0x5c, 0x3c, 0x3e, 0x3b]); // , + " \ < > ;

/** One byte of a value, escaped as do_esc_char does under ASN1_STRFLGS_RFC2253. */
function escapeByte(b: number, first: boolean, last: boolean): string {
  if (b > 0x7f) return hexByte(b); // ESC_MSB
  if (BACKSLASH_ESCAPED.has(b) || (first && (b === 0x20 || b === 0x23)) || (last && b === 0x20)) {
    return '\\' + String.fromCharCode(b);
  }
  if (b < 0x20 || b === 0x7f) return hexByte(b); // ESC_CTRL
  return String.fromCharCode(b);
}

function utf8Bytes(codePoint: number): number[] {
  return [...Buffer.from(String.fromCodePoint(codePoint), 'utf8')];
}

function dump(tlvBytes: Buffer): string {
  return '#' + tlvBytes.toString('hex').toUpperCase();
}

/** The characters of a string value, each as the UTF-8 bytes OpenSSL escapes. */
function valueChars(tag: number, body: Buffer): number[][] | undefined {
  const width = CHAR_WIDTH[tag];
  if (width === undefined) return undefined;
  const chars: number[][] = [];
  if (width === 'utf8' || width === 1) {
    // UTF8String: bytes as they are; 1-byte types: Latin-1 code point -> UTF-8
    for (const b of body) chars.push(width === 'utf8' || b < 0x80 ? [b] : utf8Bytes(b));
    return chars;
  }
  if (body.length % width !== 0) return undefined;
  for (let i = 0; i < body.length; i += width) {
    const cp = width === 2 ? body.readUInt16BE(i) : body.readUInt32BE(i);
    if (cp > 0x10ffff) return undefined;
    chars.push(cp < 0x80 ? [cp] : utf8Bytes(cp));
  }
  return chars;
}

function formatValue(tag: number, body: Buffer, tlvBytes: Buffer): string {
  const chars = valueChars(tag, body);
  if (chars === undefined) return dump(tlvBytes);
  let out = '';
  const lastIndex = chars.length - 1;
  chars.forEach((bytes, i) => {
    // do_buf *assigns* the last-character flag over the first-character one, so a
    // one-character value gets only the "last" rule: "#" stays bare, " " is escaped.
    for (const b of bytes) out += escapeByte(b, i === 0 && i !== lastIndex, i === lastIndex);
  });
  return out;
}

/** `der` (a DER Name, e.g. CertificateFields.subject) as OpenSSL's XN_FLAG_RFC2253 text. */
export function formatNameRfc2253(name: Uint8Array): string {
  const root = readRoot(name, TAG.SEQUENCE);
  const entries: { rdn: number; text: string }[] = [];
  readChildren(name, root).forEach((rdn, rdnIndex) => {
    for (const atv of readChildren(name, expectTag(rdn, TAG.SET, 'RDN'))) {
      const [typeT, valueT] = readChildren(name, expectTag(atv, TAG.SEQUENCE, 'AttributeTypeAndValue'));
      const type = decodeOid(content(name, expectTag(typeT, TAG.OID, 'attribute type')));
      const short = SHORT_NAMES[type];
      const value = short === undefined
        ? dump(raw(name, valueT))
        : formatValue(valueT.tag, content(name, valueT), raw(name, valueT));
      entries.push({ rdn: rdnIndex, text: `${short ?? type}=${value}` });
    }
  });
  let out = '';
  for (let i = entries.length - 1; i >= 0; i--) {
    if (i < entries.length - 1) out += entries[i].rdn === entries[i + 1].rdn ? '+' : ',';
    out += entries[i].text;
  }
  return out;
}
