#!/usr/bin/env bash
# dehydrated hook for alpn-responder (TLS-ALPN-01, RFC 8737).
#
# dehydrated config:
#   CHALLENGETYPE="tls-alpn-01"
#   HOOK=/usr/share/alpn-responder/dehydrated-hook.sh   # the Debian package; npm -g: $(npm root -g)/alpn-responder/hooks/
#   HOOK_CHAIN="yes"          # optional: one call for all names (one control connection with nc/socat, one per name with the CLI)
#
# Events:
#   deploy_challenge DOMAIN TOKEN DIGEST [DOMAIN TOKEN DIGEST ...]
#       sends `deploy DOMAIN DIGEST [TTL]` per triple; any failure exits non-zero, so dehydrated stops before
#       the CA validates. Challenges this call already deployed are cleaned again before exiting.
#   clean_challenge  DOMAIN TOKEN DIGEST [...]
#       sends `clean DOMAIN DIGEST` per triple, which removes only this run's deploy (another run's deploy of the
#       same name stays served). Failures are reported on stderr but exit 0: the challenge expires by itself
#       (TTL), while a non-zero exit would make dehydrated drop an order the CA has already validated.
#   startup_hook
#       (once at the start of dehydrated --cron) runs `alpn-responder doctor --quick`: exits non-zero, so the run
#       stops before ordering anything, when the daemon does not answer or another process owns its port. Without
#       the CLI (nc/socat transport), checks that the daemon answers `status`.
#   invalid_challenge DOMAIN RESPONSE
#       logs the CA's error detail and what usually causes it (`alpn-responder doctor --explain`); exits 0.
#   anything else (deploy_cert, unchanged_cert, exit_hook, ...)
#       exit 0 without touching the socket (dehydrated aborts on non-zero).
#
# Environment:
#   ALPN_RESPONDER_CONTROL    control socket (default /run/alpn-responder/control.sock)
#   ALPN_RESPONDER_NEXT_HOOK  another dehydrated hook: every event is handed to it with the same arguments
#                             (deploy_challenge only after ours succeeded) and its exit status is returned,
#                             so existing deploy_cert reloads keep working.
#   ALPN_RESPONDER_TRANSPORT  auto (default) | cli | nc | socat. auto: the CLI if found, else nc, else socat.
#   ALPN_RESPONDER_BIN        CLI to use (an executable, or a .js file run with node). Default: `alpn-responder`
#                             on PATH, else node <this dir>/../dist/cli.js.
#   ALPN_RESPONDER_TIMEOUT    seconds to wait for each answer (default 10)
#   ALPN_RESPONDER_TTL        optional lifetime of deployed challenges, in seconds
#   ALPN_RESPONDER_CA_PORT    the port the CA validates on, for the startup check (default 443; a test CA's own,
#                             such as pebble's tlsPort)
#
# nc must be netcat-openbsd (it needs -U for Unix sockets).

set -euo pipefail

readonly DEFAULT_CONTROL=/run/alpn-responder/control.sock
CONTROL="${ALPN_RESPONDER_CONTROL:-$DEFAULT_CONTROL}"
TIMEOUT="${ALPN_RESPONDER_TIMEOUT:-10}"
TRANSPORT="${ALPN_RESPONDER_TRANSPORT:-auto}"
TTL="${ALPN_RESPONDER_TTL:-}"
NEXT_HOOK="${ALPN_RESPONDER_NEXT_HOOK:-}"
CA_PORT="${ALPN_RESPONDER_CA_PORT:-443}"
HOOK_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"

CLI=()
WORK_DIR=""
CONN_PID=""

err() { printf 'alpn-responder hook: %s\n' "$*" >&2; }

hints() {
  local user
  user="$(id -un 2>/dev/null || id -u)"
  err "hint: is the daemon running? (systemctl status alpn-responder, or: alpn-responder status)"
  err "hint: is ALPN_RESPONDER_CONTROL right? (now: ${CONTROL})"
  if [[ -e "$CONTROL" ]]; then
    err "hint: does user '${user}' have access to the socket's group? ($(stat -c '%U:%G %A' -- "$CONTROL" 2>/dev/null || echo '?'))"
  else
    err "hint: does user '${user}' have access to the socket's group? (the socket must be writable by this user)"
  fi
}

die() {
  err "$@"
  hints
  exit 1
}

# Hand the event to ALPN_RESPONDER_NEXT_HOOK, or succeed: exec keeps its exit status as ours.
chain_or_exit() {
  if [[ -z "$NEXT_HOOK" ]]; then
    exit 0
  fi
  if [[ ! -f "$NEXT_HOOK" || ! -x "$NEXT_HOOK" ]]; then
    err "ALPN_RESPONDER_NEXT_HOOK=${NEXT_HOOK} is not an executable file"
    exit 1
  fi
  # exec skips the EXIT trap.
  cleanup
  trap - EXIT
  exec "$NEXT_HOOK" "$@"
}

resolve_cli() {
  if [[ -n "${ALPN_RESPONDER_BIN:-}" ]]; then
    if [[ "$ALPN_RESPONDER_BIN" == *.js ]]; then
      [[ -f "$ALPN_RESPONDER_BIN" ]] || return 1
      CLI=(node "$ALPN_RESPONDER_BIN")
    else
      command -v -- "$ALPN_RESPONDER_BIN" >/dev/null 2>&1 || return 1
      CLI=("$ALPN_RESPONDER_BIN")
    fi
  elif command -v alpn-responder >/dev/null 2>&1; then
    CLI=(alpn-responder)
  elif [[ -f "$HOOK_DIR/../dist/cli.js" ]] && command -v node >/dev/null 2>&1; then
    CLI=(node "$HOOK_DIR/../dist/cli.js")
  else
    return 1
  fi
}

have_openbsd_nc() {
  command -v nc >/dev/null 2>&1 && nc -h 2>&1 | grep -q -- '-U'
}

choose_transport() {
  case "$TRANSPORT" in
    auto)
      if resolve_cli; then TRANSPORT=cli
      elif have_openbsd_nc; then TRANSPORT=nc
      elif command -v socat >/dev/null 2>&1; then TRANSPORT=socat
      else
        err "no way to reach the daemon: install alpn-responder (or set ALPN_RESPONDER_BIN), netcat-openbsd or socat"
        exit 1
      fi
      ;;
    cli)
      resolve_cli || {
        err "ALPN_RESPONDER_TRANSPORT=cli but no CLI found (ALPN_RESPONDER_BIN='${ALPN_RESPONDER_BIN:-}', no alpn-responder on PATH, no ${HOOK_DIR}/../dist/cli.js)"
        exit 1
      }
      ;;
    nc)
      have_openbsd_nc || { err "ALPN_RESPONDER_TRANSPORT=nc needs netcat-openbsd (nc with -U)"; exit 1; }
      ;;
    socat)
      command -v socat >/dev/null 2>&1 || { err "ALPN_RESPONDER_TRANSPORT=socat but socat is not installed"; exit 1; }
      ;;
    *)
      err "ALPN_RESPONDER_TRANSPORT must be auto, cli, nc or socat (got '${TRANSPORT}')"
      exit 1
      ;;
  esac
}

# Fail with a precise reason before any transport hides it behind a generic connect error.
check_socket() {
  if [[ ! -e "$CONTROL" ]]; then
    die "cannot reach the daemon: no control socket at ${CONTROL}"
  fi
  if [[ ! -S "$CONTROL" ]]; then
    die "cannot reach the daemon: ${CONTROL} exists but is not a socket"
  fi
  if [[ ! -w "$CONTROL" ]]; then
    die "cannot reach the daemon: permission denied on ${CONTROL}"
  fi
}

cleanup() {
  if [[ -n "$CONN_PID" ]]; then
    kill "$CONN_PID" 2>/dev/null || true
    wait "$CONN_PID" 2>/dev/null || true
    CONN_PID=""
  fi
  if [[ -n "$WORK_DIR" ]]; then
    rm -rf -- "$WORK_DIR"
    WORK_DIR=""
  fi
}

# One connection for the whole call, through FIFOs rather than a pipe from printf, so each answer is read
# before the next line is sent and nothing depends on how the daemon treats a half-closed connection.
open_connection() {
  WORK_DIR="$(mktemp -d "${TMPDIR:-/tmp}/alpn-responder-hook.XXXXXX")"
  trap cleanup EXIT
  mkfifo "$WORK_DIR/in" "$WORK_DIR/out"
  # Read-write open: does not block, and keeps the FIFO alive even if the peer dies (no SIGPIPE here).
  exec 3<>"$WORK_DIR/in"
  case "$TRANSPORT" in
    nc) nc -N -U "$CONTROL" <"$WORK_DIR/in" >"$WORK_DIR/out" 2>"$WORK_DIR/err" & ;;
    socat) socat - "UNIX-CONNECT:${CONTROL}" <"$WORK_DIR/in" >"$WORK_DIR/out" 2>"$WORK_DIR/err" & ;;
  esac
  CONN_PID=$!
  # Read-only open: EOF as soon as the transport exits, so a refused connection is seen at once.
  exec 4<"$WORK_DIR/out"
}

close_connection() {
  if [[ -n "$CONN_PID" ]]; then
    exec 3>&- 4<&-
  fi
}

# request LINE: sets REPLY_LINE to the daemon's one-line answer (or a description of why there is none).
# Returns 0 when the answer starts with OK. REPLY_ANSWERED is yes when the daemon itself answered.
REPLY_LINE=""
REPLY_ANSWERED=no
request() {
  local line="$1"
  shift
  REPLY_LINE=""
  REPLY_ANSWERED=no
  if [[ "$TRANSPORT" == cli ]]; then
    local out rc=0
    cli_capture "$@" --control "$CONTROL" || rc=$?
    out="$CLI_OUT"
    if [[ $rc -eq 0 ]]; then
      REPLY_LINE="${out:-OK}"
      REPLY_ANSWERED=yes
      return 0
    fi
    # The CLI prints the daemon's ERR line as is; anything else means it never got an answer.
    if [[ "$out" == *"ERR "* ]]; then
      REPLY_ANSWERED=yes
    fi
    if [[ $rc -eq 124 || $rc -eq 137 ]]; then
      REPLY_LINE="no answer within ${TIMEOUT}s (${CLI[*]} $*)"
    else
      REPLY_LINE="${out:-${CLI[*]} exited with status ${rc}}"
    fi
    return 1
  fi

  local reply rc=0
  if ! printf '%s\n' "$line" >&3 2>/dev/null; then
    REPLY_LINE="could not send to ${CONTROL}: $(cat "$WORK_DIR/err" 2>/dev/null)"
    return 1
  fi
  IFS= read -r -t "$TIMEOUT" -u 4 reply || rc=$?
  if [[ $rc -gt 128 ]]; then
    REPLY_LINE="no answer within ${TIMEOUT}s to: ${line}"
    return 1
  fi
  if [[ $rc -ne 0 ]]; then
    # EOF: the transport exited (refused, permission denied, daemon closed the connection).
    if [[ -n "$CONN_PID" ]]; then
      wait "$CONN_PID" 2>/dev/null || true
      CONN_PID=""
    fi
    REPLY_LINE="connection to ${CONTROL} closed without an answer: $(tr '\n' ' ' <"$WORK_DIR/err" 2>/dev/null)"
    return 1
  fi
  REPLY_LINE="${reply%$'\r'}"
  REPLY_ANSWERED=yes
  [[ "$REPLY_LINE" == OK* ]]
}

# Anything outside printable non-space ASCII could smuggle a second command into the line protocol.
check_args() {
  local event="$1"
  shift
  if [[ $# -eq 0 || $(($# % 3)) -ne 0 ]]; then
    err "${event}: expected DOMAIN TOKEN DIGEST triples, got $# argument(s)"
    exit 2
  fi
  local arg
  for arg in "$@"; do
    if [[ ! "$arg" =~ ^[[:graph:]]+$ ]]; then
      err "${event}: refusing argument with spaces or control characters: '${arg}'"
      exit 2
    fi
  done
}

deploy_challenges() {
  local deployed=() deployed_digests=() domain digest
  local ttl_args=() ttl_word=""
  if [[ -n "$TTL" ]]; then
    ttl_args=(--ttl "$TTL")
    ttl_word=" ${TTL}"
  fi
  while [[ $# -ge 3 ]]; do
    domain="$1"
    digest="$3"
    shift 3
    if request "deploy ${domain} ${digest}${ttl_word}" deploy "$domain" "$digest" "${ttl_args[@]}"; then
      printf ' + alpn-responder: %s\n' "$REPLY_LINE"
      deployed+=("$domain")
      deployed_digests+=("$digest")
    else
      local why="$REPLY_LINE" answered="$REPLY_ANSWERED" i
      # Leave nothing half-deployed: dehydrated does not call clean_challenge after a failed deploy. Only this
      # call's deploys are removed, by digest.
      for i in "${!deployed[@]}"; do
        request "clean ${deployed[$i]} ${deployed_digests[$i]}" clean "${deployed[$i]}" "${deployed_digests[$i]}" || true
      done
      if [[ "$answered" == yes ]]; then
        err "deploy of ${domain} failed: ${why}"
        err "hint: the daemon refused it; the code after ERR is explained in docs/errors.md (DIGEST was '${digest}')"
        exit 1
      fi
      die "deploy of ${domain} failed: ${why}"
    fi
  done
}

clean_challenges() {
  local domain digest failed=0
  while [[ $# -ge 3 ]]; do
    domain="$1"
    digest="$3"
    shift 3
    if request "clean ${domain} ${digest}" clean "$domain" "$digest"; then
      printf ' + alpn-responder: %s\n' "$REPLY_LINE"
    else
      err "warning: clean of ${domain} failed (it expires by its TTL): ${REPLY_LINE}"
      failed=1
    fi
  done
  if [[ $failed -ne 0 ]]; then
    hints
  fi
}

# Runs the CLI with the given arguments, a time limit and none of the ALPN_RESPONDER_* variables: the hook passes
# everything it means explicitly, and the CLI would take the operator's serve settings (ALPN_RESPONDER_TTL, …) as
# its own defaults. CLI_OUT gets its stdout and stderr. Returns its exit status (124 or 137: timed out).
CLI_OUT=""
cli_capture() {
  local name unset_env=() rc=0
  for name in "${!ALPN_RESPONDER_@}"; do
    unset_env+=(-u "$name")
  done
  CLI_OUT="$(env "${unset_env[@]}" timeout -k 2 "$TIMEOUT" "${CLI[@]}" "$@" 2>&1)" || rc=$?
  CLI_OUT="${CLI_OUT//$'\r'/}"
  return "$rc"
}

# each_line PRINTER TEXT: hands every line of TEXT to PRINTER.
each_line() {
  local printer="$1" line
  while IFS= read -r line; do
    "$printer" "$line"
  done <<<"$2"
}

say() { printf ' + alpn-responder: %s\n' "$*"; }
err_item() { err "  $*"; }

# startup_hook: stop dehydrated --cron before it orders anything that the daemon could not answer.
startup_check() {
  choose_transport
  if [[ "$TRANSPORT" == cli ]]; then
    local rc=0
    cli_capture doctor --quick --control "$CONTROL" --ca-port "$CA_PORT" || rc=$?
    case "$rc" in
      0)
        each_line say "$CLI_OUT"
        return 0
        ;;
      2)
        # A CLI from before `doctor` (usage error): the status check below is what it can do.
        err "this alpn-responder CLI has no doctor command; only checking that the daemon answers"
        ;;
      124 | 137)
        err "startup check: \`alpn-responder doctor --quick\` did not finish within ${TIMEOUT}s"
        hints
        exit 1
        ;;
      *)
        err "startup check failed; dehydrated stops here so that no validation is attempted:"
        each_line err_item "$CLI_OUT"
        exit 1
        ;;
    esac
  fi
  check_socket
  [[ "$TRANSPORT" == cli ]] || open_connection
  if ! request status status; then
    die "the daemon does not answer \`status\`: ${REPLY_LINE}"
  fi
  close_connection
  say "$REPLY_LINE"
}

# invalid_challenge: what the CA reported, and what usually causes it. dehydrated passes the challenge as its
# JSON.sh lines (["error","detail"]<TAB>"..."); `doctor --explain` reads those, JSON, or plain text.
explain_invalid() {
  local domain="$1" response="$2" detail
  err "the CA could not validate ${domain}:"
  if resolve_cli && cli_capture doctor --explain "$response"; then
    each_line err_item "$CLI_OUT"
    return 0
  fi
  detail="$(sed -n 's/^\["error","detail"\][[:space:]]*"\(.*\)"[[:space:]]*$/\1/p' <<<"$response" | head -n 1)"
  err "  CA: ${detail:-$response}"
  err "  hint: run \`alpn-responder doctor\` on this host; docs/dehydrated.md lists the usual causes"
}

main() {
  local event="${1:-}"
  case "$event" in
    deploy_challenge)
      shift
      check_args "$event" "$@"
      choose_transport
      check_socket
      [[ "$TRANSPORT" == cli ]] || open_connection
      deploy_challenges "$@"
      close_connection
      chain_or_exit "$event" "$@"
      ;;
    clean_challenge)
      shift
      check_args "$event" "$@"
      choose_transport
      if [[ -S "$CONTROL" && -w "$CONTROL" ]]; then
        [[ "$TRANSPORT" == cli ]] || open_connection
        clean_challenges "$@"
        close_connection
      else
        err "warning: cannot reach the daemon at ${CONTROL} to clean challenges (they expire by their TTL)"
        hints
      fi
      chain_or_exit "$event" "$@"
      ;;
    startup_hook)
      startup_check
      chain_or_exit "$@"
      ;;
    invalid_challenge)
      explain_invalid "${2:-}" "${3:-}"
      chain_or_exit "$@"
      ;;
    *)
      chain_or_exit "$@"
      ;;
  esac
}

main "$@"
