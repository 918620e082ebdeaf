/**
 * The mapping from an OpenSSL/Node failure code to a kind of failure and the
 * key to change (the e2e test drives every kind through real servers; this
 * pins the codes each kind is recognized by).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { diagnoseTlsError, diagnoseVerification, findDiagnosis, UpstreamHandshakeError } from '../../src/forward/upstream-diagnosis.js';

const ctx = { upstream: 'kes', server: '10.0.0.1:7373', checked: 'kes.internal', presenting: { what: 'delegated' as const, configKey: 'delegation.ca', issuer: 'CN=dca' } };
const err = (code: string) => Object.assign(new Error(code.toLowerCase()), { code });

test('alerts by which a server refuses our client certificate', () => {
  for (const code of ['ERR_SSL_TLSV1_ALERT_UNKNOWN_CA', 'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE', 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN', 'ERR_SSL_TLSV1_ALERT_ACCESS_DENIED']) {
    const d = diagnoseTlsError(ctx, err(code));
    assert.equal(d?.kind, 'client-certificate-refused', code);
    assert.equal(d?.fix, 'delegation.ca');
    assert.match(d!.message, /"CN=dca"/);
  }
});

test('the alert is named by itself, whichever prefix OpenSSL gives it (a Go server\'s: SSL/TLS_ALERT_…)', () => {
  assert.match(diagnoseTlsError(ctx, err('ERR_SSL_SSL/TLS_ALERT_BAD_CERTIFICATE'))!.message, /\(TLS alert bad_certificate\)/);
  assert.match(diagnoseTlsError(ctx, err('ERR_SSL_TLSV1_ALERT_UNKNOWN_CA'))!.message, /\(TLS alert unknown_ca\)/);
});

test('protocol, not-TLS and ALPN failures name their keys; connection errors are left alone', () => {
  assert.equal(diagnoseTlsError(ctx, err('ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION'))?.fix, 'upstreams.kes.minVersion');
  assert.equal(diagnoseTlsError(ctx, err('ERR_SSL_UNSUPPORTED_PROTOCOL'))?.fix, 'upstreams.kes.minVersion');
  assert.equal(diagnoseTlsError(ctx, err('ERR_SSL_WRONG_VERSION_NUMBER'))?.kind, 'protocol');
  assert.equal(diagnoseTlsError(ctx, err('ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL'))?.fix, 'upstreams.kes.alpn');
  for (const code of ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT']) assert.equal(diagnoseTlsError(ctx, err(code)), undefined, code);
});

test('verification codes: name, issuer, validity', () => {
  assert.equal(diagnoseVerification(ctx, 'ERR_TLS_CERT_ALTNAME_INVALID', undefined).fix, 'upstreams.kes.servername');
  for (const code of ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY']) {
    assert.equal(diagnoseVerification(ctx, code, undefined).fix, 'upstreams.kes.ca', code);
  }
  assert.equal(diagnoseVerification(ctx, 'CERT_HAS_EXPIRED', undefined).kind, 'expired');
  assert.equal(diagnoseVerification(ctx, 'CERT_NOT_YET_VALID', undefined).kind, 'not-yet-valid');
});

test('a diagnosis is found through causes', () => {
  const d = diagnoseVerification(ctx, 'CERT_HAS_EXPIRED', undefined);
  const wrapped = new Error('no server reachable', { cause: new UpstreamHandshakeError(d) });
  assert.equal(findDiagnosis(wrapped), d);
  assert.equal(new UpstreamHandshakeError(d).code, 'ERR_UPSTREAM_HANDSHAKE');
});
