package dev.countersign.backend;

/**
 * Every error this library throws: a stable {@link #code()}, the same strings as
 * the TypeScript library (countersign/backend) and docs/errors.md, and a message
 * that says what is wrong and what to do.
 */
public final class CountersignException extends Exception {
  private static final long serialVersionUID = 1L;
  public static final String ERR_CONFIG_INVALID = "ERR_CONFIG_INVALID";
  public static final String ERR_CERT_INVALID = "ERR_CERT_INVALID";
  public static final String ERR_CERT_EXPIRED = "ERR_CERT_EXPIRED";
  public static final String ERR_CERT_NOT_YET_VALID = "ERR_CERT_NOT_YET_VALID";
  public static final String ERR_CA_NOT_CA = "ERR_CA_NOT_CA";
  public static final String ERR_DELEGATION_EXTENSION_MALFORMED = "ERR_DELEGATION_EXTENSION_MALFORMED";
  public static final String ERR_DELEGATION_EXTENSION_VERSION = "ERR_DELEGATION_EXTENSION_VERSION";
  public static final String ERR_DELEGATION_UNTRUSTED_ISSUER = "ERR_DELEGATION_UNTRUSTED_ISSUER";
  public static final String ERR_DELEGATION_MISSING = "ERR_DELEGATION_MISSING";
  public static final String ERR_NO_PEER_CERTIFICATE = "ERR_NO_PEER_CERTIFICATE";
  public static final String ERR_DIRECT_NOT_ALLOWED = "ERR_DIRECT_NOT_ALLOWED";
  public static final String ERR_POLICY_INVALID = "ERR_POLICY_INVALID";
  public static final String ERR_POLICY_DENIED = "ERR_POLICY_DENIED";

  private final String code;
  private final String detail;

  public CountersignException(String code, String message) {
    this(code, message, null);
  }

  public CountersignException(String code, String message, Throwable cause) {
    super(code + ": " + message, cause);
    this.code = code;
    this.detail = message;
  }

  /** The stable error code, e.g. {@code ERR_DELEGATION_UNTRUSTED_ISSUER}. */
  public String code() {
    return code;
  }

  /** The message without the code prefix. */
  public String detail() {
    return detail;
  }
}
