package dev.countersign.backend;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A KES-style policy engine over Go's path.Match syntax ({@code *} and {@code ?}
 * stop at "/", {@code [^a-z]} negates, backslash escapes). Deny wins; an empty
 * policy allows nothing; an identity has at most one policy. A pattern may start
 * with a method ({@code "POST /v1/key/create/*"}). Malformed patterns are refused
 * when the engine is built.
 */
public final class PolicyEngine {
  public static final String CLIENT_DENIAL_MESSAGE = "prohibited by policy";
  public static final String REASON_PROHIBITED = "prohibited by policy";
  public static final String REASON_UNKNOWN = "unknown identity";
  public static final String REASON_DISABLED = "identity disabled";

  /** One named policy. */
  public record Definition(List<String> allow, List<String> deny, List<String> identities) {}

  /** The outcome: {@code reason} is for the log; clients see CLIENT_DENIAL_MESSAGE. */
  public record Decision(boolean allowed, String policy, String reason) {}

  private record Rule(String method, Predicate<String> match) {}

  private record Rules(List<Rule> allow, List<Rule> deny) {}

  private static final Pattern IDENTITY = Pattern.compile("^[0-9a-f]{64}$");
  private static final Pattern METHOD = Pattern.compile("^([A-Z]+) +(\\S.*)$", Pattern.DOTALL);

  private final Map<String, Rules> policies = new HashMap<>();
  private final Map<String, String> assignments = new HashMap<>();
  private final Set<String> disabled = new HashSet<>();

  /** policies in a LinkedHashMap keep their order for error messages. */
  public PolicyEngine(LinkedHashMap<String, Definition> defs, List<String> disabledIdentities) throws CountersignException {
    for (int i = 0; i < disabledIdentities.size(); i++) disabled.add(normalize(disabledIdentities.get(i), "disabled[" + i + "]"));
    for (Map.Entry<String, Definition> e : defs.entrySet()) {
      policies.put(e.getKey(), new Rules(compile(e.getKey(), "allow", e.getValue().allow()), compile(e.getKey(), "deny", e.getValue().deny())));
    }
    for (Map.Entry<String, Definition> e : defs.entrySet()) {
      if (e.getValue().identities() != null) for (String id : e.getValue().identities()) assign(id, e.getKey());
    }
  }

  private static List<Rule> compile(String policy, String list, List<String> patterns) throws CountersignException {
    List<Rule> out = new ArrayList<>();
    if (patterns == null) return out;
    for (String p : patterns) {
      if (p == null || p.isEmpty()) throw invalid("policy \"" + policy + "\"." + list + ": every pattern must be a non-empty string");
      Matcher m = METHOD.matcher(p);
      String method = m.matches() ? m.group(1) : null;
      String path = m.matches() ? m.group(2) : p;
      if (!path.startsWith("/")) {
        throw invalid("policy \"" + policy + "\"." + list + ": pattern \"" + p + "\" must start with \"/\" (optionally after a method, e.g. \"GET /v1/status\")");
      }
      try {
        out.add(new Rule(method, compilePathPattern(path)));
      } catch (CountersignException e) {
        throw invalid("policy \"" + policy + "\"." + list + ": " + e.detail());
      }
    }
    return out;
  }

  private static CountersignException invalid(String m) {
    return new CountersignException(CountersignException.ERR_POLICY_INVALID, m);
  }

  static String normalize(String identity, String where) throws CountersignException {
    String id = identity == null ? "" : identity.strip().toLowerCase(Locale.ROOT);
    if (!IDENTITY.matcher(id).matches()) {
      throw invalid(where + ": \"" + identity + "\" is not an identity (64 hex digits: the SHA-256 of the certificate's public key, as `countersign identity of` prints)");
    }
    return id;
  }

  /** Gives an identity its policy; a second assignment is an error. */
  public void assign(String identity, String policy) throws CountersignException {
    String id = normalize(identity, "policy \"" + policy + "\" identity");
    if (!policies.containsKey(policy)) throw invalid("cannot assign " + id + " to policy \"" + policy + "\": no such policy");
    if (disabled.contains(id)) throw invalid("cannot assign " + id + " to policy \"" + policy + "\": the identity is disabled");
    String cur = assignments.putIfAbsent(id, policy);
    if (cur != null) {
      throw invalid("identity " + id + " is already assigned to policy \"" + cur + "\"; an identity has at most one policy — remove it from one of them");
    }
  }

  public String policyOf(String identity) {
    return assignments.get(identity.toLowerCase(Locale.ROOT));
  }

  /** Decides one request; path is the URL path, percent-decoded, without the query. */
  public Decision authorize(String identity, String method, String path) {
    String id = identity.toLowerCase(Locale.ROOT);
    if (disabled.contains(id)) return new Decision(false, null, REASON_DISABLED);
    String name = assignments.get(id);
    if (name == null) return new Decision(false, null, REASON_UNKNOWN);
    Rules rules = policies.get(name);
    String m = method.toUpperCase(Locale.ROOT);
    if (hit(rules.deny(), m, path) || !hit(rules.allow(), m, path)) return new Decision(false, name, REASON_PROHIBITED);
    return new Decision(true, name, null);
  }

  private static boolean hit(List<Rule> rules, String method, String path) {
    for (Rule r : rules) if ((r.method() == null || r.method().equals(method)) && r.match().test(path)) return true;
    return false;
  }

  private static CountersignException bad(String pattern, String why) {
    return invalid("pattern \"" + pattern + "\": " + why + " (syntax of Go's path.Match: * ? [a-z] [^a-z] \\c)");
  }

  private static String cp(int c) {
    return "\\x{" + Integer.toHexString(c) + "}";
  }

  /** Compiles a Go path.Match pattern; ERR_POLICY_INVALID where Go returns ErrBadPattern. */
  public static Predicate<String> compilePathPattern(String pattern) throws CountersignException {
    int[] cps = pattern.codePoints().toArray();
    StringBuilder re = new StringBuilder();
    int[] i = {0};
    while (i[0] < cps.length) {
      int c = cps[i[0]];
      if (c == '*') {
        re.append("[^/]*");
        i[0]++;
      } else if (c == '?') {
        re.append("[^/]");
        i[0]++;
      } else if (c == '\\') {
        if (i[0] + 1 >= cps.length) throw bad(pattern, "trailing backslash");
        re.append(cp(cps[i[0] + 1]));
        i[0] += 2;
      } else if (c == '[') {
        i[0]++;
        boolean negated = i[0] < cps.length && cps[i[0]] == '^';
        if (negated) i[0]++;
        StringBuilder body = new StringBuilder();
        int ranges = 0;
        while (true) {
          if (i[0] < cps.length && cps[i[0]] == ']' && ranges > 0) {
            i[0]++;
            break;
          }
          int lo = classChar(cps, i, pattern);
          int hi = lo;
          if (i[0] < cps.length && cps[i[0]] == '-') {
            i[0]++;
            hi = classChar(cps, i, pattern);
          }
          ranges++;
          if (lo <= hi) body.append(lo == hi ? cp(lo) : cp(lo) + "-" + cp(hi)); // lo > hi matches nothing in Go
        }
        if (body.length() == 0) re.append(negated ? "(?s:.)" : "(?!)");
        else re.append('[').append(negated ? "^" : "").append(body).append(']');
      } else {
        re.append(cp(c));
        i[0]++;
      }
    }
    Pattern rx = Pattern.compile(re.toString(), Pattern.DOTALL);
    return path -> rx.matcher(path).matches();
  }

  private static int classChar(int[] cps, int[] i, String pattern) throws CountersignException {
    if (i[0] >= cps.length) throw bad(pattern, "unterminated character class");
    int c = cps[i[0]];
    if (c == '-' || c == ']') throw bad(pattern, "\"" + new String(Character.toChars(c)) + "\" must be escaped inside a character class");
    if (c == '\\') {
      i[0]++;
      if (i[0] >= cps.length) throw bad(pattern, "trailing backslash");
      c = cps[i[0]];
    }
    i[0]++;
    return c;
  }
}
