package dev.countersign.backend;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.cert.Certificate;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HexFormat;
import java.util.List;
import java.util.Objects;
import java.util.regex.Pattern;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;

/**
 * Resolves who is really on the other end of a backend's TLS connection.
 *
 * <p>{@code delegated}: the peer certificate was minted by a configured
 * delegation CA; the extension names the original client. It is believed only
 * after {@link X509Certificate#verify(java.security.PublicKey)} succeeded with the
 * pinned delegation CA's public key — never because of the issuer name, and not
 * merely because the TLS trust manager accepted the chain. {@code direct}: the
 * client connected itself, when {@link Options#allowDirect} permits it.
 *
 * <p>Thread-safe; build one at start-up.
 */
public final class Identify {
  /** Options; build with {@code new Identify.Options().delegationCa(pem).allowDirect(true)}. */
  public static final class Options {
    final List<X509Certificate> delegationCas = new ArrayList<>();
    boolean allowDirect;
    String extensionOid = DelegationExtension.DEFAULT_OID;
    Clock clock = Clock.systemUTC();

    /** Pins a delegation CA (also trust it in the server's TrustManager, or the handshake refuses minted certificates). */
    public Options delegationCa(X509Certificate ca) {
      delegationCas.add(Objects.requireNonNull(ca));
      return this;
    }

    /** Pins every certificate in PEM text (or one DER certificate). */
    public Options delegationCa(byte[] pemOrDer) throws CountersignException {
      delegationCas.addAll(loadCertificates(pemOrDer));
      return this;
    }

    /** Accept clients that connect directly (default false). */
    public Options allowDirect(boolean allow) {
      allowDirect = allow;
      return this;
    }

    /** The extension's OID; must match the proxy's delegation.extensionOid. */
    public Options extensionOid(String oid) {
      extensionOid = Objects.requireNonNull(oid);
      return this;
    }

    /** Clock for validity checks (default UTC system clock). */
    public Options clock(Clock c) {
      clock = Objects.requireNonNull(c);
      return this;
    }
  }

  /** The delegation CA that signed a delegated certificate. */
  public record Voucher(String identity, String subject, String certSha256) {}

  /** The resolved identity. {@code identity} is the lowercase hex SHA-256 of the original SPKI. */
  public record Identity(String via, String identity, String certSha256, String certSha1, String subject, String issuer,
      String serial, Instant notAfter, Voucher proxy, byte[] certificate) {}

  private record Anchor(X509Certificate cert, Voucher voucher) {}

  private static final Pattern DOTTED = Pattern.compile("^[0-2](\\.(0|[1-9][0-9]*))+$");
  private static final HexFormat HEX = HexFormat.of();

  private final List<Anchor> anchors = new ArrayList<>();
  private final boolean allowDirect;
  private final String oid;
  private final Clock clock;

  public Identify(Options o) throws CountersignException {
    for (X509Certificate c : o.delegationCas) {
      TbsFields f = TbsFields.of(c);
      String subject = Names.format(f.subject);
      if (c.getBasicConstraints() < 0) {
        throw new CountersignException(CountersignException.ERR_CA_NOT_CA, "delegation CA \"" + subject
            + "\" is not a CA certificate (basicConstraints CA:TRUE is missing); give the delegation CA's certificate (delegation-ca.crt), not a leaf");
      }
      anchors.add(new Anchor(c, new Voucher(sha256Hex(f.spki), subject, sha256Hex(encoded(c)))));
    }
    if (!DOTTED.matcher(o.extensionOid).matches()) {
      throw new CountersignException(CountersignException.ERR_CONFIG_INVALID, "extensionOid: \"" + o.extensionOid + "\" is not a dotted OID");
    }
    allowDirect = o.allowDirect;
    oid = o.extensionOid;
    clock = o.clock;
    if (anchors.isEmpty() && !allowDirect) {
      throw new CountersignException(CountersignException.ERR_CONFIG_INVALID,
          "Identify: no client could ever be identified; give a delegation CA, or allowDirect(true)");
    }
  }

  /**
   * The identity of a server-side TLS session (HttpsExchange.getSSLSession(),
   * SSLSocket.getSession()), cached in the session: its peer certificate cannot
   * change. The server's TrustManager must have verified the chain (a standard
   * PKIX TrustManager with the delegation CA; never a trust-all one).
   */
  public Identity from(SSLSession session) throws CountersignException {
    String key = cacheKey;
    Object cached = session == null ? null : session.getValue(key);
    if (cached instanceof Identity id) return id;
    if (cached instanceof CountersignException e) throw new CountersignException(e.code(), e.detail(), e);
    try {
      Identity id = fromSession(session);
      session.putValue(key, id);
      return id;
    } catch (CountersignException e) {
      if (session != null) session.putValue(key, e);
      throw e;
    }
  }

  private final String cacheKey = "dev.countersign.backend.Identify@" + Integer.toHexString(System.identityHashCode(this));

  private Identity fromSession(SSLSession session) throws CountersignException {
    Certificate[] chain;
    try {
      chain = session == null ? null : session.getPeerCertificates();
    } catch (SSLPeerUnverifiedException e) {
      chain = null;
    }
    if (chain == null || chain.length == 0 || !(chain[0] instanceof X509Certificate)) {
      throw new CountersignException(CountersignException.ERR_NO_PEER_CERTIFICATE,
          "the client presented no certificate; the server must require one (SSLParameters.setNeedClientAuth(true))");
    }
    List<X509Certificate> presented = new ArrayList<>();
    for (int i = 1; i < chain.length; i++) if (chain[i] instanceof X509Certificate x) presented.add(x);
    return from((X509Certificate) chain[0], presented);
  }

  /** The identity behind a peer certificate that the TLS layer has verified. */
  public Identity from(X509Certificate cert) throws CountersignException {
    return from(cert, List.of());
  }

  /**
   * The identity behind a peer certificate that the TLS layer has verified, with
   * the certificates the peer sent after it: a per-instance delegation
   * intermediate counts only if it is a CA, signed the certificate, and is itself
   * signed by a pinned delegation CA key. Signatures decide, never names.
   */
  public Identity from(X509Certificate cert, List<X509Certificate> presented) throws CountersignException {
    TbsFields f = TbsFields.of(cert);
    String subject = Names.format(f.subject);
    String issuer = Names.format(f.issuer);
    byte[] wrapped = cert.getExtensionValue(oid);
    Anchor anchor = null;
    for (Anchor a : anchors) {
      try {
        cert.verify(a.cert.getPublicKey()); // the signature alone decides; names are free to copy
        anchor = a;
        break;
      } catch (Exception notThisOne) {
        // another key, another algorithm: not the issuer
      }
    }
    X509Certificate intermediate = null;
    if (wrapped != null && anchor == null && !anchors.isEmpty()) {
      search:
      for (X509Certificate i : presented) {
        if (i.getBasicConstraints() < 0 || !verifies(cert, i)) continue;
        for (Anchor a : anchors) {
          if (verifies(i, a.cert)) {
            anchor = a;
            intermediate = i;
            break search;
          }
        }
      }
    }
    if (wrapped != null && anchor == null) {
      throw new CountersignException(CountersignException.ERR_DELEGATION_UNTRUSTED_ISSUER, "certificate \"" + subject
          + "\" carries a delegation extension but was not signed by a trusted delegation CA (issuer \"" + issuer
          + "\"); refused — only certificates minted by a pinned delegation CA are believed");
    }
    if (anchor != null && wrapped == null) {
      throw new CountersignException(CountersignException.ERR_DELEGATION_MISSING, "certificate \"" + subject + "\" was issued by delegation CA \""
          + anchor.voucher.subject() + "\" but has no delegation extension " + oid + "; check that the proxy and backend use the same extension OID");
    }
    if (anchor != null) {
      Instant now = clock.instant();
      checkValidity("delegation CA", anchor.voucher.subject(), anchor.cert.getNotBefore().toInstant(), anchor.cert.getNotAfter().toInstant(), now, "replace the delegation CA");
      if (intermediate != null) {
        checkValidity("delegation intermediate CA", Names.format(TbsFields.of(intermediate).subject), intermediate.getNotBefore().toInstant(),
            intermediate.getNotAfter().toInstant(), now, "replace the proxy instance's intermediate");
      }
      checkValidity("delegated certificate", subject, cert.getNotBefore().toInstant(), cert.getNotAfter().toInstant(), now, "the proxy mints a fresh one on the next connection");
      byte[] ext;
      try {
        ext = Der.expect(Der.root(wrapped, Der.OCTET_STRING), Der.OCTET_STRING, "extnValue").value(wrapped);
      } catch (Der.DerException e) {
        throw new CountersignException(CountersignException.ERR_DELEGATION_EXTENSION_MALFORMED, "delegation extension: " + e.getMessage());
      }
      DelegationExtension d = DelegationExtension.decode(ext);
      if (d.certificate() != null && !MessageDigest.isEqual(sha256(d.certificate()), d.certSha256())) {
        throw new CountersignException(CountersignException.ERR_DELEGATION_EXTENSION_MALFORMED, "delegation extension: the embedded certificate does not match certSha256");
      }
      String origSubject, origIssuer;
      try {
        origSubject = Names.formatStrict(d.subject());
        origIssuer = Names.formatStrict(d.issuer());
      } catch (Der.DerException e) {
        throw new CountersignException(CountersignException.ERR_DELEGATION_EXTENSION_MALFORMED, "delegation extension: a Name cannot be decoded (" + e.getMessage() + ")");
      }
      if (now.isAfter(d.notAfter())) {
        throw new CountersignException(CountersignException.ERR_CERT_EXPIRED, "the original client certificate \"" + origSubject + "\" expired at " + d.notAfter() + "; the client must renew it");
      }
      return new Identity("delegated", HEX.formatHex(d.spkiSha256()), HEX.formatHex(d.certSha256()), HEX.withUpperCase().formatHex(d.certSha1()),
          origSubject, origIssuer, Der.serialHex(d.serial()), d.notAfter(), anchor.voucher, d.certificate());
    }
    if (!allowDirect) {
      throw new CountersignException(CountersignException.ERR_DIRECT_NOT_ALLOWED, "client \"" + subject + "\" (" + sha256Hex(f.spki)
          + ") connected directly, but this backend accepts only delegated identities; connect through countersign, or allowDirect(true)");
    }
    byte[] der = encoded(cert);
    return new Identity("direct", sha256Hex(f.spki), sha256Hex(der), HEX.withUpperCase().formatHex(digest("SHA-1", der)), subject, issuer,
        Der.serialHex(f.serial), cert.getNotAfter().toInstant(), null, der);
  }

  private static boolean verifies(X509Certificate cert, X509Certificate issuer) {
    try {
      cert.verify(issuer.getPublicKey());
      return true;
    } catch (Exception e) {
      return false;
    }
  }

  private static void checkValidity(String what, String subject, Instant nb, Instant na, Instant now, String fix) throws CountersignException {
    if (now.isAfter(na)) throw new CountersignException(CountersignException.ERR_CERT_EXPIRED, what + " \"" + subject + "\" expired at " + na + "; " + fix);
    if (now.isBefore(nb)) throw new CountersignException(CountersignException.ERR_CERT_NOT_YET_VALID, what + " \"" + subject + "\" is not valid before " + nb + "; check the clocks");
  }

  /** Byte-exact slices of the TBS (getPublicKey().getEncoded() re-encodes the key; the identity is the certificate's own SPKI bytes). */
  private record TbsFields(byte[] serial, byte[] issuer, byte[] subject, byte[] spki) {
    static TbsFields of(X509Certificate c) throws CountersignException {
      try {
        byte[] tbs = c.getTBSCertificate();
        List<Der.Tlv> f = Der.children(tbs, Der.root(tbs, Der.SEQUENCE));
        int i = f.get(0).tag() == 0xa0 ? 1 : 0;
        return new TbsFields(Der.expect(f.get(i), Der.INTEGER, "serialNumber").value(tbs), Der.expect(f.get(i + 2), Der.SEQUENCE, "issuer").raw(tbs),
            Der.expect(f.get(i + 4), Der.SEQUENCE, "subject").raw(tbs), Der.expect(f.get(i + 5), Der.SEQUENCE, "subjectPublicKeyInfo").raw(tbs));
      } catch (Der.DerException | CertificateException | IndexOutOfBoundsException e) {
        throw new CountersignException(CountersignException.ERR_CERT_INVALID, "the certificate cannot be parsed: " + e.getMessage(), e);
      }
    }
  }

  private static byte[] encoded(X509Certificate c) throws CountersignException {
    try {
      return c.getEncoded();
    } catch (CertificateException e) {
      throw new CountersignException(CountersignException.ERR_CERT_INVALID, "the certificate cannot be encoded: " + e.getMessage(), e);
    }
  }

  static byte[] digest(String alg, byte[] b) {
    try {
      return MessageDigest.getInstance(alg).digest(b);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  static byte[] sha256(byte[] b) {
    return digest("SHA-256", b);
  }

  static String sha256Hex(byte[] b) {
    return HEX.formatHex(sha256(b));
  }

  /** Every certificate in PEM text, or the one DER certificate. Errors are ERR_CERT_INVALID. */
  public static List<X509Certificate> loadCertificates(byte[] pemOrDer) throws CountersignException {
    try {
      CertificateFactory cf = CertificateFactory.getInstance("X.509");
      String text = new String(pemOrDer, StandardCharsets.ISO_8859_1);
      List<X509Certificate> out = new ArrayList<>();
      if (!text.contains("-----BEGIN")) {
        out.add((X509Certificate) cf.generateCertificate(new ByteArrayInputStream(pemOrDer)));
        return out;
      }
      Collection<? extends Certificate> all = cf.generateCertificates(new ByteArrayInputStream(pemOrDer));
      for (Certificate c : all) out.add((X509Certificate) c);
      if (out.isEmpty()) throw new CountersignException(CountersignException.ERR_CERT_INVALID, "no CERTIFICATE block found");
      return out;
    } catch (CertificateException e) {
      throw new CountersignException(CountersignException.ERR_CERT_INVALID, "not a PEM or DER certificate: " + e.getMessage(), e);
    }
  }
}
