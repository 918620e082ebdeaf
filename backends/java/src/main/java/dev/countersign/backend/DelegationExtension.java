package dev.countersign.backend;

import java.time.Instant;
import java.util.Arrays;
import java.util.List;

/**
 * The delegation extension (ASN.1 module in docs/delegation.md), decoded strictly:
 * DER only; version first (another version is ERR_DELEGATION_EXTENSION_VERSION
 * whatever follows); 8 or 9 fields of the documented types and sizes.
 */
public record DelegationExtension(
    int version,
    byte[] certSha256,
    byte[] spkiSha256,
    byte[] certSha1,
    byte[] subject,
    byte[] issuer,
    byte[] serial,
    Instant notAfter,
    byte[] certificate) {

  /** The default OID; the proxy's delegation.extensionOid and the backend's must agree. */
  public static final String DEFAULT_OID = "1.2.840.113556.1.8000.2554.52765.56834.36689.18876.35599.6052605.1115151.1";
  public static final int VERSION = 1;

  private static CountersignException malformed(String m) {
    return new CountersignException(CountersignException.ERR_DELEGATION_EXTENSION_MALFORMED, "delegation extension: " + m);
  }

  /** Decodes the extnValue (the content of the extension's OCTET STRING). */
  public static DelegationExtension decode(byte[] der) throws CountersignException {
    List<Der.Tlv> f;
    try {
      f = Der.children(der, Der.root(der, Der.SEQUENCE));
    } catch (Der.DerException e) {
      throw malformed(e.getMessage());
    }
    if (f.isEmpty()) throw malformed("empty SEQUENCE");
    try {
      byte[] v = Der.expect(f.get(0), Der.INTEGER, "version").value(der);
      if (v.length == 0) throw malformed("empty version");
      if (v.length > 1 && ((v[0] == 0 && (v[1] & 0x80) == 0) || (v[0] == (byte) 0xff && (v[1] & 0x80) != 0))) {
        throw malformed("version is not a minimally encoded INTEGER");
      }
      if (v.length != 1 || v[0] != VERSION) {
        throw new CountersignException(CountersignException.ERR_DELEGATION_EXTENSION_VERSION,
            "delegation extension: version " + new java.math.BigInteger(v) + " is not supported (this library reads version "
                + VERSION + "); upgrade the countersign backend library");
      }
      if (f.size() != 8 && f.size() != 9) throw malformed("expected 8 or 9 fields, found " + f.size());
      byte[] serial = Der.expect(f.get(6), Der.INTEGER, "serialNumber").value(der);
      if (serial.length == 0) throw malformed("empty serialNumber");
      Der.Tlv nat = Der.expect(f.get(7), Der.GENERALIZED_TIME, "notAfter");
      byte[] certSha256 = digest(der, f.get(1), 32, "certSha256");
      byte[] spkiSha256 = digest(der, f.get(2), 32, "spkiSha256");
      byte[] certSha1 = digest(der, f.get(3), 20, "certSha1");
      byte[] subject = name(der, f.get(4), "subject");
      byte[] issuer = name(der, f.get(5), "issuer");
      Instant notAfter = Der.decodeTime(nat.tag(), nat.value(der));
      byte[] certificate = f.size() == 9 ? Der.expect(f.get(8), 0x80, "certificate").value(der) : null;
      return new DelegationExtension(1, certSha256, spkiSha256, certSha1, subject, issuer, serial, notAfter, certificate);
    } catch (Der.DerException e) {
      throw malformed(e.getMessage());
    }
  }

  private static byte[] digest(byte[] der, Der.Tlv t, int n, String what) throws Der.DerException, CountersignException {
    byte[] b = Der.expect(t, Der.OCTET_STRING, what).value(der);
    if (b.length != n) throw malformed(what + " must be " + n + " bytes, found " + b.length);
    return b;
  }

  private static byte[] name(byte[] der, Der.Tlv t, String what) throws Der.DerException {
    Der.children(der, Der.expect(t, Der.SEQUENCE, what)); // must be well-formed
    return t.raw(der);
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof DelegationExtension d && Arrays.equals(certSha256, d.certSha256) && Arrays.equals(certificate, d.certificate);
  }

  @Override
  public int hashCode() {
    return Arrays.hashCode(certSha256);
  }
}
