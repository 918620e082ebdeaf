package dev.countersign.backend;

import java.time.Instant;
import java.util.Arrays;
import java.util.List;

/**
 * The delegation extension (ASN.1 module in docs/delegation.md), decoded strictly:
 * DER only; version first (a version other than 1 or 2 is
 * ERR_DELEGATION_EXTENSION_VERSION whatever follows); v1: 8 fields, 9 with the
 * certificate; v2: namesVouched (a DER BOOLEAN) after notAfter, so 9 or 10; the
 * documented types and sizes.
 *
 * <p>{@code namesVouched}: a client CA the proxy trusts vouched for the subject
 * and the original's subjectAltNames. False for v1 (it cannot say), and for a
 * client that connected in clientAuth mode any with a certificate no configured
 * CA issued: never authorize by those names then.
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
    boolean namesVouched,
    byte[] certificate) {

  /** The default OID; the proxy's delegation.extensionOid and the backend's must agree. */
  public static final String DEFAULT_OID = "1.2.840.113556.1.8000.2554.52765.56834.36689.18876.35599.6052605.1115151.1";
  /** The newest version read; version 1 is read too. */
  public static final int VERSION = 2;

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
      if (v.length != 1 || (v[0] != 1 && v[0] != 2)) {
        throw new CountersignException(CountersignException.ERR_DELEGATION_EXTENSION_VERSION,
            "delegation extension: version " + new java.math.BigInteger(v) + " is not supported (this library reads versions 1 and "
                + VERSION + "); upgrade the countersign backend library");
      }
      int version = v[0];
      int fixed = version == 1 ? 8 : 9;
      if (f.size() != fixed && f.size() != fixed + 1) {
        throw malformed("version " + version + " has " + fixed + " or " + (fixed + 1) + " fields, found " + f.size());
      }
      byte[] serial = Der.expect(f.get(6), Der.INTEGER, "serialNumber").value(der);
      if (serial.length == 0) throw malformed("empty serialNumber");
      Der.Tlv nat = Der.expect(f.get(7), Der.GENERALIZED_TIME, "notAfter");
      byte[] certSha256 = digest(der, f.get(1), 32, "certSha256");
      byte[] spkiSha256 = digest(der, f.get(2), 32, "spkiSha256");
      byte[] certSha1 = digest(der, f.get(3), 20, "certSha1");
      byte[] subject = name(der, f.get(4), "subject");
      byte[] issuer = name(der, f.get(5), "issuer");
      Instant notAfter = Der.decodeTime(nat.tag(), nat.value(der));
      boolean namesVouched = false;
      if (version == 2) {
        byte[] b = Der.expect(f.get(8), Der.BOOLEAN, "namesVouched").value(der);
        if (b.length != 1 || (b[0] != 0x00 && b[0] != (byte) 0xff)) throw malformed("namesVouched is not a DER BOOLEAN (one byte, 00 or FF)");
        namesVouched = b[0] == (byte) 0xff;
      }
      byte[] certificate = f.size() == fixed + 1 ? Der.expect(f.get(fixed), 0x80, "certificate").value(der) : null;
      return new DelegationExtension(version, certSha256, spkiSha256, certSha1, subject, issuer, serial, notAfter, namesVouched, certificate);
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
