/**
 * Error codes of Node's TLS client that depend on the OpenSSL it is built with: Node 20 and 22 up to 22.19 carry
 * OpenSSL 3.0, Node 24 carries 3.5, which reports a handshake_failure alert as "ssl/tls alert" instead of
 * "sslv3 alert" (the reason string was renamed in OpenSSL 3.2).
 */
const [major = 0, minor = 0] = (process.versions.openssl ?? '0.0').split('.').map(Number);

/** The code Node gives a handshake_failure alert from the server. */
export const HANDSHAKE_FAILURE_CODE =
  major > 3 || (major === 3 && minor >= 2) ? 'ERR_SSL_SSL/TLS_ALERT_HANDSHAKE_FAILURE' : 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE';
