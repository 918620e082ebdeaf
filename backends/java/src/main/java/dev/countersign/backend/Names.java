package dev.countersign.backend;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * RFC 4514-style text of a DER Name ("CN=alice, O=Example"), in encoding order,
 * exactly as the TypeScript library writes it (src/pki/name-format.ts) — not
 * X500Principal's reversed RFC 2253 form.
 */
public final class Names {
  private static final Map<String, String> SHORT = Map.ofEntries(
      Map.entry("2.5.4.3", "CN"), Map.entry("2.5.4.6", "C"), Map.entry("2.5.4.7", "L"), Map.entry("2.5.4.8", "ST"),
      Map.entry("2.5.4.9", "STREET"), Map.entry("2.5.4.10", "O"), Map.entry("2.5.4.11", "OU"), Map.entry("2.5.4.5", "serialNumber"),
      Map.entry("2.5.4.12", "title"), Map.entry("2.5.4.42", "GN"), Map.entry("2.5.4.4", "SN"),
      Map.entry("0.9.2342.19200300.100.1.25", "DC"), Map.entry("0.9.2342.19200300.100.1.1", "UID"),
      Map.entry("1.2.840.113549.1.9.1", "E"));
  private static final Set<Integer> STRING_TAGS = Set.of(0x0c, 0x13, 0x16, 0x14, 0x1a, 0x1e);

  private Names() {}

  private static String text(int tag, byte[] body) {
    if (tag == 0x1e) return new String(body, StandardCharsets.UTF_16BE);
    if (tag == 0x0c) return new String(body, StandardCharsets.UTF_8);
    if (STRING_TAGS.contains(tag)) return new String(body, StandardCharsets.ISO_8859_1);
    return "#" + HexFormat.of().formatHex(body);
  }

  private static String escape(String s) {
    String out = s.replaceAll("([,+\"\\\\<>;])", "\\\\$1").replaceAll("^([ #])", "\\\\$1");
    return out.endsWith(" ") ? out.substring(0, out.length() - 1) + "\\ " : out;
  }

  /** Formats a DER Name. */
  public static String format(byte[] der) throws CountersignException {
    try {
      return formatStrict(der);
    } catch (Der.DerException e) {
      throw new CountersignException(CountersignException.ERR_CERT_INVALID, "a Name cannot be decoded (" + e.getMessage() + ")", e);
    }
  }

  static String formatStrict(byte[] der) throws Der.DerException {
    List<String> rdns = new ArrayList<>();
    for (Der.Tlv rdn : Der.children(der, Der.root(der, Der.SEQUENCE))) {
      List<String> parts = new ArrayList<>();
      for (Der.Tlv atv : Der.children(der, Der.expect(rdn, Der.SET, "RDN"))) {
        List<Der.Tlv> tv = Der.children(der, Der.expect(atv, Der.SEQUENCE, "AttributeTypeAndValue"));
        if (tv.size() < 2) throw new Der.DerException("AttributeTypeAndValue without a value");
        String oid = Der.decodeOid(Der.expect(tv.get(0), Der.OID, "attribute type").value(der));
        Der.Tlv v = tv.get(1);
        String t = text(v.tag(), v.value(der));
        parts.add(SHORT.getOrDefault(oid, oid) + "=" + (STRING_TAGS.contains(v.tag()) ? escape(t) : t));
      }
      rdns.add(String.join("+", parts));
    }
    return String.join(", ", rdns);
  }
}
