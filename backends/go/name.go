package countersign

import (
	"fmt"
	"strings"
	"unicode/utf16"
)

var shortNames = map[string]string{
	"2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.9": "STREET", "2.5.4.10": "O",
	"2.5.4.11": "OU", "2.5.4.5": "serialNumber", "2.5.4.12": "title", "2.5.4.42": "GN", "2.5.4.4": "SN",
	"0.9.2342.19200300.100.1.25": "DC", "0.9.2342.19200300.100.1.1": "UID", "1.2.840.113549.1.9.1": "E",
}

func isStringTag(t byte) bool {
	switch t {
	case 0x0c, 0x13, 0x16, 0x14, 0x1a, 0x1e:
		return true
	}
	return false
}

func valueText(tag byte, body []byte) string {
	switch {
	case tag == 0x1e: // BMPString, UTF-16BE
		u := make([]uint16, len(body)/2)
		for i := range u {
			u[i] = uint16(body[2*i])<<8 | uint16(body[2*i+1])
		}
		return string(utf16.Decode(u))
	case tag == tagUTF8String:
		return strings.ToValidUTF8(string(body), "\uFFFD")
	case isStringTag(tag): // Latin-1
		r := make([]rune, len(body))
		for i, c := range body {
			r[i] = rune(c)
		}
		return string(r)
	}
	return fmt.Sprintf("#%x", body)
}

func escapeValue(s string) string {
	var b strings.Builder
	for _, c := range s {
		if strings.ContainsRune(",+\"\\<>;", c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	out := b.String()
	if strings.HasPrefix(out, " ") || strings.HasPrefix(out, "#") {
		out = "\\" + out
	}
	if strings.HasSuffix(out, " ") {
		out = out[:len(out)-1] + "\\ "
	}
	return out
}

// FormatName renders a DER Name as countersign does everywhere
// ("CN=alice, O=Example"): RFC 4514 escaping, RDNs in encoding order (not
// reversed as pkix.Name.String does), so subjects compare equal across the
// proxy's logs and the TypeScript, Go, Python and Java libraries.
func FormatName(der []byte) (string, error) {
	root, err := readRoot(der, tagSequence)
	if err != nil {
		return "", err
	}
	rdns, err := readChildren(der, root)
	if err != nil {
		return "", err
	}
	out := make([]string, 0, len(rdns))
	for _, rdn := range rdns {
		if err := expectTag(rdn, tagSet, "RDN"); err != nil {
			return "", err
		}
		atvs, err := readChildren(der, rdn)
		if err != nil {
			return "", err
		}
		parts := make([]string, 0, len(atvs))
		for _, atv := range atvs {
			if err := expectTag(atv, tagSequence, "AttributeTypeAndValue"); err != nil {
				return "", err
			}
			tv, err := readChildren(der, atv)
			if err != nil {
				return "", err
			}
			if len(tv) < 2 {
				return "", derFail("AttributeTypeAndValue without a value")
			}
			if err := expectTag(tv[0], tagOID, "attribute type"); err != nil {
				return "", err
			}
			oid, err := decodeOID(tv[0].bytes(der))
			if err != nil {
				return "", err
			}
			name, ok := shortNames[oid]
			if !ok {
				name = oid
			}
			text := valueText(tv[1].tag, tv[1].bytes(der))
			if isStringTag(tv[1].tag) {
				text = escapeValue(text)
			}
			parts = append(parts, name+"="+text)
		}
		out = append(out, strings.Join(parts, "+"))
	}
	return strings.Join(out, ", "), nil
}
