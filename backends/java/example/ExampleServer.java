import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsExchange;
import com.sun.net.httpserver.HttpsParameters;
import com.sun.net.httpserver.HttpsServer;
import dev.countersign.backend.CountersignException;
import dev.countersign.backend.Identify;
import dev.countersign.backend.PolicyEngine;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.TrustManagerFactory;

/**
 * A countersign-aware Java HTTPS backend (JDK only: com.sun.net.httpserver): it
 * trusts the delegation CA (and, for direct clients, the client CA), unwraps the
 * original client from the minted certificate, and applies a KES-style policy.
 *
 *   java -cp build/countersign-backend.jar:build/test ExampleServer --cert backend.crt --key backend.key \
 *     --ca delegation-ca.crt --delegation-ca delegation-ca.crt \
 *     --policy app --allow PATTERN --identity "$(countersign identity of alice.crt)"
 *
 * (see README.md for a full command line).
 *
 * Every allowed request is answered with the identity as JSON. It prints
 * "listening <port>" once it accepts connections. The key must be PKCS#8 PEM.
 */
public final class ExampleServer {
  private static void usage(String m) {
    System.err.println("example: " + m + "\nusage: ExampleServer --cert F --key F --ca F [--ca F] --delegation-ca F [--allow-direct] [--listen 127.0.0.1:0]\n"
        + "  [--policy NAME [--allow PATTERN]... [--deny PATTERN]... [--identity HEX]...]...");
    System.exit(2);
  }

  private static String json(Map<String, String> m) {
    StringBuilder b = new StringBuilder("{");
    for (Map.Entry<String, String> e : m.entrySet()) {
      if (b.length() > 1) b.append(',');
      b.append(quote(e.getKey())).append(':').append(quote(e.getValue()));
    }
    return b.append('}').toString();
  }

  private static String quote(String s) {
    StringBuilder b = new StringBuilder("\"");
    for (char c : s.toCharArray()) {
      if (c == '"' || c == '\\') b.append('\\').append(c);
      else if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
      else b.append(c);
    }
    return b.append('"').toString();
  }

  private static PrivateKey loadKey(Path file) throws Exception {
    String pem = Files.readString(file);
    // The PEM markers are built here so no file in the repository carries a key block's header.
    String begin = "-----BEGIN " + "PRIVATE" + " KEY-----";
    String end = "-----END " + "PRIVATE" + " KEY-----";
    int a = pem.indexOf(begin);
    int z = pem.indexOf(end);
    if (a < 0 || z < 0) throw new IllegalArgumentException(file + ": expected a PKCS#8 \"PRIVATE KEY\" PEM block");
    byte[] der = Base64.getMimeDecoder().decode(pem.substring(a + begin.length(), z));
    for (String alg : new String[] {"EC", "RSA", "Ed25519"}) {
      try {
        return KeyFactory.getInstance(alg).generatePrivate(new PKCS8EncodedKeySpec(der));
      } catch (Exception notThisType) {
        // try the next
      }
    }
    throw new IllegalArgumentException(file + ": not an EC, RSA or Ed25519 key");
  }

  public static void main(String[] args) throws Exception {
    String cert = null, key = null, listen = "127.0.0.1:0", current = null;
    List<String> cas = new ArrayList<>(), delegation = new ArrayList<>();
    boolean allowDirect = false;
    Map<String, List<List<String>>> defs = new LinkedHashMap<>();
    for (int i = 0; i < args.length; i++) {
      String flag = args[i];
      if (flag.equals("--allow-direct")) { allowDirect = true; continue; }
      if (i + 1 >= args.length) usage(flag + " needs a value");
      String val = args[++i];
      switch (flag) {
        case "--cert" -> cert = val;
        case "--key" -> key = val;
        case "--listen" -> listen = val;
        case "--ca" -> cas.add(val);
        case "--delegation-ca" -> delegation.add(val);
        case "--policy" -> { current = val; defs.putIfAbsent(val, List.of(new ArrayList<>(), new ArrayList<>(), new ArrayList<>())); }
        case "--allow", "--deny", "--identity" -> {
          if (current == null) usage(flag + " must follow --policy NAME");
          defs.get(current).get(flag.equals("--allow") ? 0 : flag.equals("--deny") ? 1 : 2).add(val);
        }
        default -> usage("unknown flag " + flag);
      }
    }
    if (cert == null || key == null || cas.isEmpty()) usage("--cert, --key and --ca are required");

    Identify.Options opts = new Identify.Options().allowDirect(allowDirect);
    for (String f : delegation) opts.delegationCa(Files.readAllBytes(Path.of(f)));
    Identify identify = new Identify(opts);
    PolicyEngine policy = null;
    if (!defs.isEmpty()) {
      LinkedHashMap<String, PolicyEngine.Definition> d = new LinkedHashMap<>();
      defs.forEach((name, l) -> d.put(name, new PolicyEngine.Definition(l.get(0), l.get(1), l.get(2))));
      policy = new PolicyEngine(d, List.of());
    }

    char[] pw = "in-memory".toCharArray();
    KeyStore ks = KeyStore.getInstance("PKCS12");
    ks.load(null, null);
    List<X509Certificate> chain = Identify.loadCertificates(Files.readAllBytes(Path.of(cert)));
    ks.setKeyEntry("server", loadKey(Path.of(key)), pw, chain.toArray(new X509Certificate[0]));
    KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
    kmf.init(ks, pw);
    KeyStore trust = KeyStore.getInstance("PKCS12");
    trust.load(null, null);
    int n = 0;
    for (String f : cas) for (X509Certificate c : Identify.loadCertificates(Files.readAllBytes(Path.of(f)))) trust.setCertificateEntry("ca" + n++, c);
    TrustManagerFactory tmf = TrustManagerFactory.getInstance("PKIX");
    tmf.init(trust);
    SSLContext ssl = SSLContext.getInstance("TLS");
    ssl.init(kmf.getKeyManagers(), tmf.getTrustManagers(), null);

    int colon = listen.lastIndexOf(':');
    HttpsServer server = HttpsServer.create(new InetSocketAddress(listen.substring(0, colon), Integer.parseInt(listen.substring(colon + 1))), 0);
    server.setHttpsConfigurator(new HttpsConfigurator(ssl) {
      @Override
      public void configure(HttpsParameters params) {
        SSLParameters p = ssl.getDefaultSSLParameters();
        p.setNeedClientAuth(true);
        p.setApplicationProtocols(new String[] {"http/1.1"}); // no HTTP/2 in com.sun.net.httpserver
        params.setSSLParameters(p);
      }
    });
    PolicyEngine engine = policy;
    server.createContext("/", exchange -> {
      try (exchange) {
        HttpsExchange https = (HttpsExchange) exchange;
        String method = exchange.getRequestMethod();
        String path = exchange.getRequestURI().getPath(); // percent-decoded
        int status;
        Map<String, String> body = new LinkedHashMap<>();
        try {
          Identify.Identity id = identify.from(https.getSSLSession());
          String allowedBy = "";
          PolicyEngine.Decision d = engine == null ? null : engine.authorize(id.identity(), method, path);
          if (d != null && !d.allowed()) {
            System.err.println("refused status=403 reason=\"" + d.reason() + "\" method=" + method + " path=" + path + " identity=" + id.identity());
            status = 403;
            body.put("code", CountersignException.ERR_POLICY_DENIED);
            body.put("message", PolicyEngine.CLIENT_DENIAL_MESSAGE);
          } else {
            if (d != null) allowedBy = d.policy();
            status = 200;
            body.put("via", id.via());
            body.put("identity", id.identity());
            body.put("subject", id.subject());
            body.put("issuer", id.issuer());
            body.put("namesVouched", Boolean.toString(id.namesVouched()));
            body.put("certSha256", id.certSha256());
            body.put("policy", allowedBy);
            body.put("proxy", id.proxy() == null ? "" : id.proxy().identity());
            body.put("path", path);
          }
        } catch (CountersignException e) {
          System.err.println("refused status=401 code=" + e.code() + " reason=\"" + e.detail() + "\" method=" + method + " path=" + path);
          status = 401;
          body.put("code", e.code());
          body.put("message", e.detail());
        }
        byte[] out = json(body).getBytes(StandardCharsets.UTF_8);
        exchange.getResponseHeaders().set("Content-Type", "application/json");
        exchange.sendResponseHeaders(status, out.length);
        try (OutputStream os = exchange.getResponseBody()) {
          os.write(out);
        }
      } catch (IOException | RuntimeException e) {
        System.err.println("request failed: " + e);
      }
    });
    server.setExecutor(Executors.newCachedThreadPool());
    server.start();
    System.out.println("listening " + server.getAddress().getPort());
    System.out.flush();
  }
}
