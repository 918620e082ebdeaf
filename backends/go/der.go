package countersign

import (
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// A small strict DER reader, rule for rule the one in the TypeScript library
// (src/pki/der.ts): definite, minimal lengths of at most 4 bytes, single-byte
// tags, nothing trailing the root element. encoding/asn1 is not used for the
// extension because it accepts what countersign's decoders refuse.

const (
	tagBoolean         = 0x01
	tagInteger         = 0x02
	tagOctetString     = 0x04
	tagOID             = 0x06
	tagUTF8String      = 0x0c
	tagSequence        = 0x30
	tagSet             = 0x31
	tagGeneralizedTime = 0x18
)

type tlv struct {
	tag     byte
	start   int // offset of the tag byte
	content int // offset of the first content byte
	end     int // offset just past the element
}

var errDER = errors.New("invalid DER")

func derFail(format string, a ...interface{}) error {
	return fmt.Errorf("%w: "+format, append([]interface{}{errDER}, a...)...)
}

func readTLV(b []byte, off, limit int) (tlv, error) {
	if off+2 > limit {
		return tlv{}, derFail("truncated element at offset %d", off)
	}
	tag := b[off]
	if tag&0x1f == 0x1f {
		return tlv{}, derFail("multi-byte tag at offset %d is not supported", off)
	}
	n := int(b[off+1])
	p := off + 2
	if n&0x80 != 0 {
		k := n & 0x7f
		if k == 0 {
			return tlv{}, derFail("indefinite length at offset %d is not DER", off)
		}
		if k > 4 {
			return tlv{}, derFail("length of %d bytes at offset %d is too large", k, off)
		}
		if p+k > limit {
			return tlv{}, derFail("truncated length at offset %d", off)
		}
		n = 0
		for i := 0; i < k; i++ {
			n = n<<8 | int(b[p+i])
		}
		if b[p] == 0 || n < 0x80 {
			return tlv{}, derFail("non-minimal length at offset %d", off)
		}
		p += k
	}
	if p+n > limit || p+n < p {
		return tlv{}, derFail("element at offset %d runs past its container", off)
	}
	return tlv{tag: tag, start: off, content: p, end: p + n}, nil
}

func readChildren(b []byte, parent tlv) ([]tlv, error) {
	var out []tlv
	for p := parent.content; p < parent.end; {
		t, err := readTLV(b, p, parent.end)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
		p = t.end
	}
	return out, nil
}

func readRoot(b []byte, tag byte) (tlv, error) {
	t, err := readTLV(b, 0, len(b))
	if err != nil {
		return t, err
	}
	if t.end != len(b) {
		return t, derFail("%d trailing bytes after the DER element", len(b)-t.end)
	}
	if t.tag != tag {
		return t, derFail("expected tag 0x%x, found 0x%x", tag, t.tag)
	}
	return t, nil
}

func expectTag(t tlv, tag byte, what string) error {
	if t.tag != tag {
		return derFail("%s: expected tag 0x%x, found 0x%x", what, tag, t.tag)
	}
	return nil
}

func (t tlv) bytes(b []byte) []byte { return b[t.content:t.end] }
func (t tlv) raw(b []byte) []byte   { return b[t.start:t.end] }

func decodeOID(body []byte) (string, error) {
	if len(body) == 0 {
		return "", derFail("empty OID")
	}
	var arcs []*big.Int
	v := new(big.Int)
	for i, c := range body {
		if v.Sign() == 0 && c == 0x80 {
			return "", derFail("non-minimal OID arc")
		}
		v.Lsh(v, 7).Or(v, big.NewInt(int64(c&0x7f)))
		if c&0x80 == 0 {
			arcs = append(arcs, v)
			v = new(big.Int)
		} else if i == len(body)-1 {
			return "", derFail("truncated OID")
		}
	}
	first := arcs[0]
	var head []string
	switch {
	case first.Cmp(big.NewInt(40)) < 0:
		head = []string{"0", first.String()}
	case first.Cmp(big.NewInt(80)) < 0:
		head = []string{"1", new(big.Int).Sub(first, big.NewInt(40)).String()}
	default:
		head = []string{"2", new(big.Int).Sub(first, big.NewInt(80)).String()}
	}
	for _, a := range arcs[1:] {
		head = append(head, a.String())
	}
	return strings.Join(head, "."), nil
}

// serialHex formats INTEGER content bytes as OpenSSL prints a serial:
// uppercase hex without leading zero bytes, "-" and the magnitude when negative.
func serialHex(b []byte) string {
	if len(b) == 0 {
		return "00"
	}
	if b[0]&0x80 != 0 {
		v := new(big.Int).SetBytes(b)
		v.Sub(new(big.Int).Lsh(big.NewInt(1), uint(len(b)*8)), v)
		h := strings.ToUpper(v.Text(16))
		if len(h)%2 == 1 {
			h = "0" + h
		}
		return "-" + h
	}
	i := 0
	for i < len(b)-1 && b[i] == 0 {
		i++
	}
	return strings.ToUpper(fmt.Sprintf("%x", b[i:]))
}
