/**
 * RFC 4514-style text for a DER Name ("CN=alice, O=Example"), in the order the
 * RDNs are encoded. Small on purpose: the backend library needs it and should not
 * pull a full X.509 toolkit.
 */
import { TAG, content, decodeOid, expectTag, readChildren, readRoot } from './der.js';

const SHORT: Record<string, string> = {
  '2.5.4.3': 'CN', '2.5.4.6': 'C', '2.5.4.7': 'L', '2.5.4.8': 'ST', '2.5.4.9': 'STREET', '2.5.4.10': 'O',
  '2.5.4.11': 'OU', '2.5.4.5': 'serialNumber', '2.5.4.12': 'title', '2.5.4.42': 'GN', '2.5.4.4': 'SN',
  '0.9.2342.19200300.100.1.25': 'DC', '0.9.2342.19200300.100.1.1': 'UID', '1.2.840.113549.1.9.1': 'E',
};

function valueText(tag: number, body: Buffer): string {
  if (tag === 0x1e) { // BMPString: UTF-16BE
    const swapped = Buffer.from(body);
    swapped.swap16();
    return swapped.toString('utf16le');
  }
  if (STRING_TAGS.has(tag)) return body.toString(tag === 0x0c ? 'utf8' : 'latin1');
  return '#' + body.toString('hex');
}

const STRING_TAGS = new Set([0x0c, 0x13, 0x16, 0x14, 0x1a, 0x1e]);
const isHexForm = (tag: number) => !STRING_TAGS.has(tag);

const escape = (s: string) => s.replace(/([,+"\\<>;])/g, '\\$1').replace(/^([ #])/, '\\$1').replace(/ $/, '\\ ');

export function formatDerName(der: Uint8Array): string {
  const root = readRoot(der, TAG.SEQUENCE);
  const rdns: string[] = [];
  for (const rdn of readChildren(der, root)) {
    const parts: string[] = [];
    for (const atv of readChildren(der, expectTag(rdn, TAG.SET, 'RDN'))) {
      const [typeT, valueT] = readChildren(der, expectTag(atv, TAG.SEQUENCE, 'AttributeTypeAndValue'));
      const type = decodeOid(content(der, expectTag(typeT, TAG.OID, 'attribute type')));
      const text = valueText(valueT.tag, content(der, valueT));
      // the #hex form (RFC 4514 2.4) is written as is; only string values are escaped
      parts.push(`${SHORT[type] ?? type}=${isHexForm(valueT.tag) ? text : escape(text)}`);
    }
    rdns.push(parts.join('+'));
  }
  return rdns.join(', ');
}

/** One attribute of a DER Name, in encoding order (multi-valued RDNs flattened). */
export interface NameAttribute { oid: string; short?: string; value: string }

/**
 * The attributes of a DER Name in the order they are encoded, RDN by RDN and,
 * within a multi-valued RDN, as encoded: what Go's pkix.Name reads (its
 * `Organization` is every O in this order; its `CommonName` the last CN).
 */
export function nameAttributes(der: Uint8Array): NameAttribute[] {
  const root = readRoot(der, TAG.SEQUENCE);
  const out: NameAttribute[] = [];
  for (const rdn of readChildren(der, root)) {
    for (const atv of readChildren(der, expectTag(rdn, TAG.SET, 'RDN'))) {
      const [typeT, valueT] = readChildren(der, expectTag(atv, TAG.SEQUENCE, 'AttributeTypeAndValue'));
      const oid = decodeOid(content(der, expectTag(typeT, TAG.OID, 'attribute type')));
      out.push({ oid, short: SHORT[oid], value: valueText(valueT.tag, content(der, valueT)) });
    }
  }
  return out;
}
