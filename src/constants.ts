/** Protocol constants and defaults shared across modules. */

/** The ALPN protocol ID of RFC 8737 §6.2. */
export const ACME_TLS_ALPN = 'acme-tls/1';

/** OID of the acmeIdentifier extension (RFC 8737 §6.1, id-pe-acmeIdentifier). */
export const ACME_IDENTIFIER_OID = '1.3.6.1.5.5.7.1.31';

/** Default path of the control socket. */
export const DEFAULT_CONTROL_PATH = '/run/alpn-responder/control.sock';

/** Default listen address: dual-stack wildcard on the port the CA dials (RFC 8737 §3). */
export const DEFAULT_LISTEN = '[::]:443';

/** Default lifetime of a deployed challenge, in seconds. */
export const DEFAULT_TTL_SECONDS = 3600;

/** Longest lifetime a deploy may ask for: a week, far above any CA's authorization window for a pending check. */
export const MAX_TTL_SECONDS = 7 * 24 * 3600;

/** Default cap on deployed challenges. */
export const DEFAULT_MAX_CHALLENGES = 10_000;

/**
 * Deploys kept per name: the newest is served, and cleaning it (by its digest) serves the one before while that one
 * is live. A CA validates one authorization per name at a time; a few cover overlapping runs of one client.
 */
export const MAX_DEPLOYS_PER_NAME = 4;

/** Default `--max-control-line`: longest control line accepted, in bytes (a deploy line is about 400 bytes at most). */
export const MAX_CONTROL_LINE = 4096;

/** Most bytes read while waiting for a complete ClientHello (hellos with post-quantum key shares are ~2 KiB). */
export const MAX_CLIENT_HELLO_BYTES = 32 * 1024;

/** How long a client may take to send its ClientHello, in milliseconds. */
export const CLIENT_HELLO_TIMEOUT_MS = 10_000;

/** How long a challenge handshake may take once routed, in milliseconds. */
export const HANDSHAKE_TIMEOUT_MS = 10_000;

/**
 * Default cap on concurrent TLS-port connections. A CA opens a handful per validation; 4096 leaves room for
 * passthrough traffic while bounding memory (each waiting connection holds at most `--max-hello-bytes`).
 */
export const DEFAULT_MAX_CONNECTIONS = 4096;

/**
 * Default cap on concurrent connections from one source (an IPv4 address or an IPv6 /64). Let's Encrypt validates
 * from several vantage points, each with its own address and a few connections, far below this.
 */
export const DEFAULT_MAX_CONNECTIONS_PER_SOURCE = 64;

/**
 * Default challenge handshakes per second per source (`--handshake-rate`), refilling a bucket of
 * {@link DEFAULT_HANDSHAKE_BURST}. A CA connects a few times per challenge from each of its vantage points (each its
 * own address; pebble makes 3 connections from one), and even a 100-name certificate (the most Let's Encrypt allows)
 * validated at once from one address fits in the burst; a source replaying ClientHellos gets 20 key exchanges a second, about 2 % of a core.
 */
export const DEFAULT_HANDSHAKE_RATE = 20;

/**
 * Default challenge handshakes one source may start in a burst (`--handshake-burst`), see {@link DEFAULT_HANDSHAKE_RATE}.
 * Above {@link DEFAULT_MAX_CONNECTIONS_PER_SOURCE} on purpose: the CA's primary vantage point may validate every name
 * of a 100-name order within a second or two, one short connection each, and refusing the CA is the failure this
 * daemon exists to prevent. Stalled handshakes are bounded by the per-source cap and shared out fairly at the
 * connection cap, not by the burst; 200 quick key exchanges cost about 0.1 s of one core.
 */
export const DEFAULT_HANDSHAKE_BURST = 200;

/** Default cap on concurrent control-socket connections (a hook opens one per call). */
export const DEFAULT_MAX_CONTROL_CONNECTIONS = 64;

/**
 * Default control commands per second per connection: above what a deploy costs in CPU (1–3 ms each), so a bulk
 * deploy of 1,000 names is never held back, while a runaway or hostile local client flooding cheap commands is
 * (its commands are delayed, not refused).
 */
export const DEFAULT_CONTROL_COMMANDS_PER_SECOND = 1000;

/** How long a control connection may stay silent, in milliseconds. */
export const CONTROL_IDLE_TIMEOUT_MS = 60_000;

/** How long connecting to a backend may take, in milliseconds. */
export const BACKEND_CONNECT_TIMEOUT_MS = 5_000;

/** How long a passed-through connection may stay silent in both directions, in milliseconds. */
export const PASSTHROUGH_IDLE_TIMEOUT_MS = 300_000;

/** Largest challenge certificate or key file read from `--watch-dir`; dehydrated's RSA-2048 pair is ~3 KiB. */
export const MAX_WATCH_PEM_BYTES = 64 * 1024;

/**
 * How long a `--watch-dir` pair that does not parse yet may keep changing before it is skipped: dehydrated writes
 * the key, then the certificate, each in one write, so a pair is complete within milliseconds.
 */
export const WATCH_DIR_SETTLE_MS = 2_000;

/** First retry delay for an incomplete `--watch-dir` pair; it doubles up to {@link WATCH_DIR_MAX_RETRY_MS}. */
export const WATCH_DIR_RETRY_MS = 10;

/** Longest delay between two retries of an incomplete `--watch-dir` pair. */
export const WATCH_DIR_MAX_RETRY_MS = 500;

/** How long shutdown waits for open connections to finish, in milliseconds. */
export const SHUTDOWN_TIMEOUT_MS = 10_000;
