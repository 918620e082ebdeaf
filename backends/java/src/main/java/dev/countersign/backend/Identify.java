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

  /**
   * The resolved identity. {@code identity} is the lowercase hex SHA-256 of the original SPKI.
   * {@code namesVouched}: a CA vouched for {@code subject} (and the certificate's other names) —
   * direct: true, the TrustManager verified the chain; delegated: what the proxy's extension says,
   * false for a client that reached countersign in clientAuth mode any with a certificate no
   * configured client CA issued, and for v1 extensions. When false, never authorize by a name:
   * only by {@code identity}.
   */
  public record Identity(String via, String identity, String certSha256, String certSha1, String subject, String issuer,
      boolean namesVouched, String serial, Instant notAfter, Voucher proxy, byte[] certificate) {}

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
   * SSLSocket.getSession()). What cannot change for the session's peer
   * certificate (signatures, the decoded extension) is cached in the session;
   * the validity checks run on every call, because a session outlives its
   * handshake: a client may resume it after the minted certificate, the
   * original or the delegation CA expired. The server's TrustManager must have
   * verified the chain (a standard PKIX TrustManager with the delegation CA;
   * never a trust-all one).
   */
  public Identity from(SSLSession session) throws CountersignException {
    String key = cacheKey;
    Object cached = session == null ? null : session.getValue(key);
    if (cached instanceof Examined e) return e.at(clock.instant());
    Examined e = examineSession(session);
    if (session != null) session.putValue(key, e);
    return e.at(clock.instant());
  }

  private final String cacheKey = "dev.countersign.backend.Identify@" + Integer.toHexString(System.identityHashCode(this));

  /** One check of {@link Examined}: a validity window, or a refusal that no clock changes. */
  private interface Check {
    void run(Instant now) throws CountersignException;
  }

  /**
   * What a peer certificate resolves to, as checks to run at a given time and
   * the identity they guard: the time-independent work is done once, the
   * validity windows are checked at every {@link #at}. The checks keep the
   * order of the full examination, so the first failure is the same error.
   */
  private record Examined(List<Check> checks, Identity identity) {
    Identity at(Instant now) throws CountersignException {
      for (Check c : checks) c.run(now);
      return identity;
    }

    static Examined refused(List<Check> before, CountersignException e) {
      List<Check> checks = new ArrayList<>(before);
      // a fresh exception per call, with the first as its cause (a thrown exception's stack is the caller's)
      checks.add(now -> {
        throw new CountersignException(e.code(), e.detail(), e);
      });
      return new Examined(List.copyOf(checks), null);
    }
  }

  private Examined examineSession(SSLSession session) {
    try {
      return fromSession(session);
    } catch (CountersignException e) {
      return Examined.refused(List.of(), e);
    }
  }

  private Examined fromSession(SSLSession session) throws CountersignException {
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
    return examine((X509Certificate) chain[0], presented);
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
    return examine(cert, presented).at(clock.instant());
  }

  /** The checks and identity of a peer certificate; throws what no clock can change before any validity window. */
  private Examined examine(X509Certificate cert, List<X509Certificate> presented) throws CountersignException {
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
      List<Check> windows = new ArrayList<>();
      X509Certificate ca = anchor.cert;
      String caSubject = anchor.voucher.subject();
      windows.add(now -> checkValidity("delegation CA", caSubject, ca.getNotBefore().toInstant(), ca.getNotAfter().toInstant(), now, "replace the delegation CA"));
      if (intermediate != null) {
        X509Certificate im = intermediate;
        String imSubject = Names.format(TbsFields.of(intermediate).subject);
        windows.add(now -> checkValidity("delegation intermediate CA", imSubject, im.getNotBefore().toInstant(),
            im.getNotAfter().toInstant(), now, "replace the proxy instance's intermediate"));
      }
      windows.add(now -> checkValidity("delegated certificate", subject, cert.getNotBefore().toInstant(), cert.getNotAfter().toInstant(), now,
          "the proxy mints a fresh one on the next connection"));
      DelegationExtension d;
      String origSubject, origIssuer;
      try {
        byte[] ext;
        try {
          ext = Der.expect(Der.root(wrapped, Der.OCTET_STRING), Der.OCTET_STRING, "extnValue").value(wrapped);
        } catch (Der.DerException e) {
          throw new CountersignException(CountersignException.ERR_DELEGATION_EXTENSION_MALFORMED, "delegation extension: " + e.getMessage());
        }
        d = DelegationExtension.decode(ext);
        if (d.certificate() != null && !MessageDigest.isEqual(sha256(d.certificate()), d.certSha256())) {
          throw new CountersignException(CountersignException.ERR_DELEGATION_EXTENSION_MALFORMED, "delegation extension: the embedded certificate does not match certSha256");
        }
        try {
          origSubject = Names.formatStrict(d.subject());
          origIssuer = Names.formatStrict(d.issuer());
        } catch (Der.DerException e) {
          throw new CountersignException(CountersignException.ERR_DELEGATION_EXTENSION_MALFORMED, "delegation extension: a Name cannot be decoded (" + e.getMessage() + ")");
        }
      } catch (CountersignException e) {
        return Examined.refused(windows, e);
      }
      Instant originalNotAfter = d.notAfter();
      windows.add(now -> {
        if (now.isAfter(originalNotAfter)) {
          throw new CountersignException(CountersignException.ERR_CERT_EXPIRED, "the original client certificate \"" + origSubject + "\" expired at " + originalNotAfter + "; the client must renew it");
        }
      });
      return new Examined(List.copyOf(windows), new Identity("delegated", HEX.formatHex(d.spkiSha256()), HEX.formatHex(d.certSha256()),
          HEX.withUpperCase().formatHex(d.certSha1()), origSubject, origIssuer, d.namesVouched(), Der.serialHex(d.serial()), d.notAfter(), anchor.voucher,
          d.certificate()));
    }
    if (!allowDirect) {
      throw new CountersignException(CountersignException.ERR_DIRECT_NOT_ALLOWED, "client \"" + subject + "\" (" + sha256Hex(f.spki)
          + ") connected directly, but this backend accepts only delegated identities; connect through countersign, or allowDirect(true)");
    }
    byte[] der = encoded(cert);
    return new Examined(List.of(), new Identity("direct", sha256Hex(f.spki), sha256Hex(der), HEX.withUpperCase().formatHex(digest("SHA-1", der)), subject, issuer,
        true, Der.serialHex(f.serial), cert.getNotAfter().toInstant(), null, der));
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
