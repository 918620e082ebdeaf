package dev.countersign.backend;

import java.math.BigInteger;
import java.time.DateTimeException;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A small strict DER reader, rule for rule the TypeScript one (src/pki/der.ts):
 * definite minimal lengths of at most 4 bytes, single-byte tags, nothing after
 * the root element.
 */
final class Der {
  static final int INTEGER = 0x02, BIT_STRING = 0x03, OCTET_STRING = 0x04, OID = 0x06, BOOLEAN = 0x01;
  static final int SEQUENCE = 0x30, SET = 0x31, UTC_TIME = 0x17, GENERALIZED_TIME = 0x18;

  /** Thrown for bytes that are not the strict DER expected; surfaced as a CountersignException. */
  static final class DerException extends Exception {
    private static final long serialVersionUID = 1L;
    DerException(String message) {
      super(message);
    }
  }

  /** One element: offsets into the buffer it was read from. */
  record Tlv(int tag, int start, int content, int end) {
    byte[] value(byte[] b) {
      return Arrays.copyOfRange(b, content, end);
    }

    byte[] raw(byte[] b) {
      return Arrays.copyOfRange(b, start, end);
    }
  }

  private Der() {}

  static Tlv read(byte[] b, int off, int limit) throws DerException {
    if (off + 2 > limit) throw new DerException("truncated element at offset " + off);
    int tag = b[off] & 0xff;
    if ((tag & 0x1f) == 0x1f) throw new DerException("multi-byte tag at offset " + off + " is not supported");
    long n = b[off + 1] & 0xff;
    int p = off + 2;
    if ((n & 0x80) != 0) {
      int k = (int) (n & 0x7f);
      if (k == 0) throw new DerException("indefinite length at offset " + off + " is not DER");
      if (k > 4) throw new DerException("length of " + k + " bytes at offset " + off + " is too large");
      if (p + k > limit) throw new DerException("truncated length at offset " + off);
      n = 0;
      for (int i = 0; i < k; i++) n = (n << 8) | (b[p + i] & 0xff);
      if (b[p] == 0 || n < 0x80) throw new DerException("non-minimal length at offset " + off);
      p += k;
    }
    if (p + n > limit) throw new DerException("element at offset " + off + " runs past its container");
    return new Tlv(tag, off, p, (int) (p + n));
  }

  static List<Tlv> children(byte[] b, Tlv parent) throws DerException {
    List<Tlv> out = new ArrayList<>();
    for (int p = parent.content(); p < parent.end(); ) {
      Tlv t = read(b, p, parent.end());
      out.add(t);
      p = t.end();
    }
    return out;
  }

  static Tlv root(byte[] b, int tag) throws DerException {
    Tlv t = read(b, 0, b.length);
    if (t.end() != b.length) throw new DerException((b.length - t.end()) + " trailing bytes after the DER element");
    if (t.tag() != tag) throw new DerException(String.format("expected tag 0x%x, found 0x%x", tag, t.tag()));
    return t;
  }

  static Tlv expect(Tlv t, int tag, String what) throws DerException {
    if (t.tag() != tag) throw new DerException(String.format("%s: expected tag 0x%x, found 0x%x", what, tag, t.tag()));
    return t;
  }

  static String decodeOid(byte[] body) throws DerException {
    if (body.length == 0) throw new DerException("empty OID");
    List<BigInteger> arcs = new ArrayList<>();
    BigInteger v = BigInteger.ZERO;
    for (int i = 0; i < body.length; i++) {
      int c = body[i] & 0xff;
      if (v.signum() == 0 && c == 0x80) throw new DerException("non-minimal OID arc");
      v = v.shiftLeft(7).or(BigInteger.valueOf(c & 0x7f));
      if ((c & 0x80) == 0) {
        arcs.add(v);
        v = BigInteger.ZERO;
      } else if (i == body.length - 1) {
        throw new DerException("truncated OID");
      }
    }
    BigInteger first = arcs.get(0);
    StringBuilder s = new StringBuilder();
    if (first.compareTo(BigInteger.valueOf(40)) < 0) s.append("0.").append(first);
    else if (first.compareTo(BigInteger.valueOf(80)) < 0) s.append("1.").append(first.subtract(BigInteger.valueOf(40)));
    else s.append("2.").append(first.subtract(BigInteger.valueOf(80)));
    for (BigInteger a : arcs.subList(1, arcs.size())) s.append('.').append(a);
    return s.toString();
  }

  private static final Pattern GEN = Pattern.compile("^(\\d{4})(\\d{2})(\\d{2})(\\d{2})(\\d{2})(\\d{2})Z$");
  private static final Pattern UTC = Pattern.compile("^(\\d{2})(\\d{2})(\\d{2})(\\d{2})(\\d{2})(\\d{2})Z$");

  static Instant decodeTime(int tag, byte[] body) throws DerException {
    String s = new String(body, java.nio.charset.StandardCharsets.ISO_8859_1);
    Matcher m;
    if (tag == GENERALIZED_TIME) m = GEN.matcher(s);
    else if (tag == UTC_TIME) m = UTC.matcher(s);
    else throw new DerException(String.format("expected a time, found tag 0x%x", tag));
    if (!m.matches()) throw new DerException("malformed time \"" + s + "\"");
    int y = Integer.parseInt(m.group(1));
    if (tag == UTC_TIME) y += y < 50 ? 2000 : 1900;
    try {
      return ZonedDateTime.of(y, Integer.parseInt(m.group(2)), Integer.parseInt(m.group(3)), Integer.parseInt(m.group(4)),
          Integer.parseInt(m.group(5)), Integer.parseInt(m.group(6)), 0, ZoneOffset.UTC).toInstant();
    } catch (DateTimeException e) {
      throw new DerException("invalid time \"" + s + "\"");
    }
  }

  /** INTEGER content bytes as OpenSSL prints a serial: uppercase hex, no leading zero bytes, "-" when negative. */
  static String serialHex(byte[] b) {
    if (b.length == 0) return "00";
    if ((b[0] & 0x80) != 0) {
      String h = BigInteger.ONE.shiftLeft(8 * b.length).subtract(new BigInteger(1, b)).toString(16).toUpperCase();
      return "-" + (h.length() % 2 == 1 ? "0" + h : h);
    }
    int i = 0;
    while (i < b.length - 1 && b[i] == 0) i++;
    return java.util.HexFormat.of().withUpperCase().formatHex(b, i, b.length);
  }
}
