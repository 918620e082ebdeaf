package dev.countersign.backend;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The shared golden vectors (test/vectors/delegation-vectors.json), generated
 * from the TypeScript library: Java must agree with every one. A plain main()
 * (JDK only, no JUnit): prints one line per failure and exits 1 if any.
 *
 *   java -cp classes:test-classes dev.countersign.backend.VectorsTest path/to/delegation-vectors.json
 */
public final class VectorsTest {
  private static int passed, failed;

  private static void check(String name, Object want, Object got) {
    if (Objects.equals(want, got)) passed++;
    else {
      failed++;
      System.out.println("FAIL " + name + ": want " + want + ", got " + got);
    }
  }

  private static final DateTimeFormatter ISO = DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'").withZone(ZoneOffset.UTC);

  @SuppressWarnings("unchecked")
  public static void main(String[] args) throws Exception {
    Map<String, Object> v = (Map<String, Object>) Json.parse(Files.readString(Path.of(args[0])));
    Map<String, Object> cas = (Map<String, Object>) v.get("cas");
    check("default OID", v.get("defaultExtensionOid"), DelegationExtension.DEFAULT_OID);
    HexFormat hex = HexFormat.of();

    for (Object o : (List<Object>) v.get("certificates")) {
      Map<String, Object> c = (Map<String, Object>) o;
      String name = "certificate " + c.get("name");
      Map<String, Object> want = (Map<String, Object>) c.get("expect");
      Identify.Options opts = new Identify.Options().allowDirect((Boolean) c.get("allowDirect"))
          .clock(Clock.fixed(Instant.parse((String) c.get("now")), ZoneOffset.UTC));
      if (c.get("extensionOid") != null) opts.extensionOid((String) c.get("extensionOid"));
      Map<String, Object> got = new LinkedHashMap<>();
      try {
        for (Object k : (List<Object>) c.get("delegationCAs")) opts.delegationCa(((String) cas.get(k)).getBytes(StandardCharsets.US_ASCII));
        Identify identify = new Identify(opts);
        List<java.security.cert.X509Certificate> chain = new ArrayList<>();
        if (c.get("chain") != null) for (Object p : (List<Object>) c.get("chain")) chain.addAll(Identify.loadCertificates(((String) p).getBytes(StandardCharsets.US_ASCII)));
        Identify.Identity r = identify.from(Identify.loadCertificates(((String) c.get("cert")).getBytes(StandardCharsets.US_ASCII)).get(0), chain);
        got.put("via", r.via());
        got.put("identity", r.identity());
        got.put("certSha256", r.certSha256());
        got.put("certSha1", r.certSha1());
        got.put("subject", r.subject());
        got.put("issuer", r.issuer());
        got.put("namesVouched", r.namesVouched());
        got.put("serial", r.serial());
        got.put("notAfter", ISO.format(r.notAfter()));
        if (r.proxy() != null) got.put("proxyIdentity", r.proxy().identity());
        got.put("embedded", r.via().equals("delegated") && r.certificate() != null);
      } catch (CountersignException e) {
        got.put("error", e.code());
      }
      check(name, sorted(want), sorted(got));
    }

    for (Object o : (List<Object>) v.get("extensions")) {
      Map<String, Object> e = (Map<String, Object>) o;
      Map<String, Object> got = new LinkedHashMap<>();
      try {
        DelegationExtension d = DelegationExtension.decode(hex.parseHex((String) e.get("der")));
        got.put("version", (double) d.version());
        got.put("certSha256", hex.formatHex(d.certSha256()));
        got.put("spkiSha256", hex.formatHex(d.spkiSha256()));
        got.put("certSha1", hex.formatHex(d.certSha1()));
        got.put("subject", hex.formatHex(d.subject()));
        got.put("issuer", hex.formatHex(d.issuer()));
        got.put("serial", hex.formatHex(d.serial()));
        got.put("notAfter", ISO.format(d.notAfter()));
        got.put("namesVouched", d.namesVouched());
        if (d.certificate() != null) got.put("certificate", hex.formatHex(d.certificate()));
      } catch (CountersignException err) {
        got.put("error", err.code());
      }
      check("extension " + e.get("name"), sorted((Map<String, Object>) e.get("expect")), sorted(got));
    }

    for (Object o : (List<Object>) v.get("pathMatch")) {
      Map<String, Object> p = (Map<String, Object>) o;
      Map<String, Object> got = new LinkedHashMap<>();
      try {
        got.put("match", PolicyEngine.compilePathPattern((String) p.get("pattern")).test((String) p.get("path")));
      } catch (CountersignException err) {
        got.put("error", err.code());
      }
      check("pathMatch " + p.get("pattern") + " ~ " + p.get("path"), sorted((Map<String, Object>) p.get("expect")), sorted(got));
    }

    Map<String, Object> policy = (Map<String, Object>) v.get("policy");
    Map<String, Object> def = (Map<String, Object>) policy.get("definition");
    LinkedHashMap<String, PolicyEngine.Definition> defs = new LinkedHashMap<>();
    for (Map.Entry<String, Object> e : ((Map<String, Object>) def.get("policies")).entrySet()) {
      Map<String, Object> d = (Map<String, Object>) e.getValue();
      defs.put(e.getKey(), new PolicyEngine.Definition(strings(d.get("allow")), strings(d.get("deny")), strings(d.get("identities"))));
    }
    PolicyEngine engine = new PolicyEngine(defs, strings(def.get("disabled")));
    for (Object o : (List<Object>) policy.get("requests")) {
      Map<String, Object> r = (Map<String, Object>) o;
      PolicyEngine.Decision d = engine.authorize((String) r.get("identity"), (String) r.get("method"), (String) r.get("path"));
      Map<String, Object> got = new LinkedHashMap<>();
      got.put("allowed", d.allowed());
      if (d.policy() != null) got.put("policy", d.policy());
      if (d.reason() != null) got.put("reason", d.reason());
      check("policy " + r.get("method") + " " + r.get("path"), sorted((Map<String, Object>) r.get("expect")), sorted(got));
    }

    System.out.println((failed == 0 ? "OK " : "FAILED ") + passed + " passed, " + failed + " failed");
    System.exit(failed == 0 ? 0 : 1);
  }

  private static Map<String, Object> sorted(Map<String, Object> m) {
    return new java.util.TreeMap<>(m);
  }

  @SuppressWarnings("unchecked")
  private static List<String> strings(Object o) {
    List<String> out = new ArrayList<>();
    if (o != null) for (Object s : (List<Object>) o) out.add((String) s);
    return out;
  }
}
