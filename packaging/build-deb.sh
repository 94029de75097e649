#!/usr/bin/env bash
# Builds alpn-responder_<version>_all.deb in the repository root with dpkg-deb (no debhelper needed):
#   /usr/lib/alpn-responder/{dist,node_modules,package.json}  the built code and its production dependencies
#   /usr/bin/alpn-responder                                  -> ../lib/alpn-responder/dist/cli.js
#   /usr/lib/systemd/system/alpn-responder*.{service,socket} systemd/ with ExecStart=/usr/bin/alpn-responder
#   /usr/lib/sysusers.d/alpn-responder.conf                  the group alpn-responder (the control socket's)
#   /usr/share/alpn-responder/dehydrated-hook.sh             dehydrated's HOOK
#   /usr/share/doc/alpn-responder/                           README, docs/, examples/, copyright, changelog
#   /usr/share/man/man1/alpn-responder.1.gz                  made from the CLI's --help (packaging/man-page.ts)
# Run through `npm run package` (which builds dist/ first). Needs: node, npm, dpkg-deb, gzip; the npm registry
# (or npm's cache) for the production dependencies.

set -euo pipefail

cd "$(dirname -- "${BASH_SOURCE[0]}")/.."
ROOT_DIR="$PWD"

NAME=alpn-responder
VERSION="$(node -p 'require("./package.json").version')"
MAINTAINER="${DEB_MAINTAINER:-alpn-responder <dev@alpn-responder.invalid>}"
OUT="${ROOT_DIR}/${NAME}_${VERSION}_all.deb"
# The date of the last commit (or now, outside git), so two builds of one commit are the same.
EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}"
export SOURCE_DATE_EPOCH="$EPOCH"

[[ -f dist/cli.js ]] || { echo "build-deb: dist/cli.js is missing: run npm run build (npm run package does)" >&2; exit 1; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/alpn-responder-deb.XXXXXX")"
trap 'rm -rf -- "$WORK"' EXIT
PKG="$WORK/pkg"
LIB="$PKG/usr/lib/$NAME"
DOC="$PKG/usr/share/doc/$NAME"
UNITS="$PKG/usr/lib/systemd/system"

install -d "$LIB" "$PKG/usr/bin" "$UNITS" "$PKG/usr/share/$NAME" "$DOC/docs" "$DOC/examples" "$PKG/usr/share/man/man1" "$PKG/DEBIAN"

# Code: dist/ without source maps (they point into src/, which is not shipped) and package.json (VERSION reads it).
cp -a dist "$LIB/dist"
find "$LIB/dist" -name '*.map' -delete
node -e '
  const p = require("./package.json");
  const keep = { name: p.name, version: p.version, description: p.description, license: p.license, type: p.type,
    engines: p.engines, bin: p.bin, dependencies: p.dependencies };
  process.stdout.write(JSON.stringify(keep, null, 2) + "\n");' >"$LIB/package.json"
chmod 755 "$LIB/dist/cli.js"
ln -s "../lib/$NAME/dist/cli.js" "$PKG/usr/bin/$NAME"

# Production dependencies exactly as package-lock.json pins them, installed apart from the development tree.
DEPS="$WORK/deps"
mkdir -p "$DEPS"
cp package.json package-lock.json "$DEPS/"
(cd "$DEPS" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
# Dot files (.eslintrc, .npmignore: build leftovers) and the modules' own READMEs and changelogs go; licenses stay.
find "$DEPS/node_modules" -name '.*' -prune -exec rm -rf {} +
find "$DEPS/node_modules" -type f \( -iname 'readme*' -o -iname 'changelog*' -o -iname 'history.md' \) -delete
if find "$DEPS/node_modules" -name '*.node' | grep -q .; then
  echo "build-deb: a production dependency ships a native module; the package could not be Architecture: all" >&2
  exit 1
fi
cp -a "$DEPS/node_modules" "$LIB/node_modules"

# Units: the repository's, pointed at the installed paths.
for unit in systemd/*.service systemd/*.socket; do
  sed -e "s|/usr/bin/node /opt/$NAME/dist/cli.js|/usr/bin/$NAME|g" \
      -e "s|file:/opt/$NAME/docs/|file:/usr/share/doc/$NAME/docs/|g" \
      -e "s|^# Paths assume the project at /opt/$NAME and Node at /usr/bin/node: adjust ExecStart= to yours.|# Installed by the $NAME package; override settings with systemctl edit, not by editing this file.|" \
      -e "s|Install: copy to /etc/systemd/system/, then|Enable:|" \
      "$unit" >"$UNITS/$(basename "$unit")"
done
if grep -n '/opt/' "$UNITS"/*; then
  echo "build-deb: a unit still names /opt/ (see above)" >&2
  exit 1
fi

install -m 755 hooks/dehydrated-hook.sh "$PKG/usr/share/$NAME/dehydrated-hook.sh"
# The control socket's group, created by postinst (systemd-sysusers) and at boot.
install -D -m 644 systemd/alpn-responder.sysusers.conf "$PKG/usr/lib/sysusers.d/$NAME.conf"
install -m 644 packaging/dehydrated-conf.sh "$DOC/examples/dehydrated-conf.sh"
install -m 644 README.md "$DOC/README.md"
install -m 644 docs/*.md "$DOC/docs/"

# Debian changelog (a native package: the version is upstream's), and the copyright of everything shipped.
{
  printf '%s (%s) unstable; urgency=medium\n\n' "$NAME" "$VERSION"
  printf '  * Release %s: see changes.md.gz beside this file.\n\n' "$VERSION"
  printf ' -- %s  %s\n' "$MAINTAINER" "$(date -u -R -d "@$EPOCH")"
} | gzip -9n >"$DOC/changelog.gz"
gzip -9n <CHANGELOG.md >"$DOC/changes.md.gz"
node --import @tapjs/typescript/import packaging/copyright.ts "$LIB/node_modules" >"$DOC/copyright"

node --import @tapjs/typescript/import packaging/man-page.ts dist/cli.js "$VERSION" "$(date -u -d "@$EPOCH" +%Y-%m-%d)" \
  | gzip -9n >"$PKG/usr/share/man/man1/$NAME.1.gz"

for script in postinst prerm postrm; do
  install -m 755 "packaging/$script" "$PKG/DEBIAN/$script"
done
cat >"$PKG/DEBIAN/control" <<CONTROL
Package: $NAME
Version: $VERSION
Architecture: all
Maintainer: $MAINTAINER
Installed-Size: $(du -sk --exclude=DEBIAN "$PKG" | cut -f1)
Depends: nodejs (>= 20)
Recommends: dehydrated
Suggests: netcat-openbsd | socat
Section: net
Priority: optional
Homepage: https://www.rfc-editor.org/rfc/rfc8737
Description: TLS-ALPN-01 (RFC 8737) challenge responder for dehydrated
 A small daemon that answers ACME TLS-ALPN-01 challenges on port 443 for
 the dehydrated ACME client. It reads each ClientHello first: clients that
 offer acme-tls/1 for a deployed name get the challenge certificate, every
 other TLS connection can be passed on untouched to a web server.
 .
 Challenges arrive from dehydrated's hook over a Unix control socket. The
 package ships systemd units (socket activation on port 443, unprivileged
 service) that are neither enabled nor started on installation.
CONTROL
(cd "$PKG" && find usr -type f -print0 | sort -z | xargs -0 md5sum >DEBIAN/md5sums)

# Files as root:root, directories 755, files 644 unless executable, times at the commit date.
find "$PKG" -type d -exec chmod 755 {} +
find "$PKG/usr" -type f ! -perm -u+x -exec chmod 644 {} +
find "$PKG/usr" -type f -perm -u+x -exec chmod 755 {} +
# In node_modules only scripts (#!) stay executable.
find "$LIB/node_modules" -type f -exec chmod 644 {} +
grep -rlZ --include='*.js' -m1 '^#!' "$LIB/node_modules" | while IFS= read -r -d '' script; do
  if [[ "$(head -c 2 "$script")" == '#!' ]]; then chmod 755 "$script"; fi
done
chmod 755 "$LIB/dist/worker.js"
find "$PKG" -exec touch -h -d "@$EPOCH" {} +
dpkg-deb --root-owner-group -Zxz --build "$PKG" "$OUT" >/dev/null
echo "$OUT"
