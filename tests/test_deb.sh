#!/usr/bin/env bash
# The Debian packages as a user gets them: `make deb` builds postgresql-15-delta-sync and delta-sync
# (debian/); lintian finds no error in them; apt-get installs them into the system's PostgreSQL 15
# tree; on a cluster of the system's binaries the server loads the packaged library and the
# pg_regress suite passes against it, and so does the packages' autopkgtest (debian/tests); the
# installed client answers --help, has its man page and pulls a table; apt-get purge removes every
# file the packages installed.
#
# Installing packages needs root (CI runs as root). Not as root, the test fails, unless
# DELTA_SYNC_SKIP_DEB=1 asks to skip it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

if [ "${DELTA_SYNC_SKIP_DEB:-}" = 1 ]; then
  echo "SKIP: test_deb.sh (DELTA_SYNC_SKIP_DEB=1): the Debian packages were not built nor tested"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "test_deb.sh: installing the packages needs root: run as root, or set DELTA_SYNC_SKIP_DEB=1 to skip" >&2
  exit 1
fi

sysbin=/usr/lib/postgresql/15/bin
pkglibdir=$("$sysbin/pg_config" --pkglibdir)
extdir=$("$sysbin/pg_config" --sharedir)/extension
pkgs=(postgresql-15-delta-sync delta-sync)
version=$(sed -nE "s/^default_version = '([^']+)'/\1/p" delta_sync.control)

fail() { echo "test_deb.sh: FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
apt() { DEBIAN_FRONTEND=noninteractive apt-get -y -qq -o DPkg::Lock::Timeout=300 "$@"; }

for p in "${pkgs[@]}"; do
  if installed "$p"; then
    fail "$p is installed on this machine; this test installs and removes it: remove it first (apt-get purge $p)"
  fi
done

work=$(mktemp -d /tmp/delta_sync_deb.XXXXXX)
moved=()  # unpackaged files of an earlier `make install` into the system tree, put back at the end
cleanup() {
  PGBIN=$sysbin tests/cluster.sh stop "$work/pg" 2>/dev/null || true
  for p in "${pkgs[@]}"; do
    if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -qv "not-installed"; then
      apt purge "$p" >/dev/null 2>&1 || true
    fi
  done
  for f in "${moved[@]}"; do
    [ -e "$f" ] || mv "$work/aside$f" "$f"
  done
  rm -rf "$work"
}
trap cleanup EXIT

echo "-- make deb"
start=$(date +%s)
if ! env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u PG_CONFIG -u PGBIN make -s deb >"$work/build.log" 2>&1; then
  tail -n 80 "$work/build.log"
  fail "make deb"
fi
debs=()
for p in "${pkgs[@]}"; do
  f=$(ls build/deb/"${p}"_*.deb 2>/dev/null | head -1)
  [ -n "$f" ] || fail "make deb made no package $p"
  debs+=("$root/$f")
done
ok "make deb built ${debs[*]##*/} in $(( $(date +%s) - start ))s"

echo "-- lintian"
rc=0
out=$(lintian --fail-on error "${debs[@]}" 2>&1) || rc=$?
echo "$out" | grep -v 'running with root privileges' || true
[ "$rc" -eq 0 ] || fail "lintian reports errors (exit status $rc)"
! echo "$out" | grep -q '^E: ' || fail "lintian reports errors"
ok "lintian: no error"

# An unpackaged install of the extension in the system tree would be overwritten by the package
# and then deleted by its removal: keep it aside meanwhile.
for f in "$pkglibdir/delta_sync.so" "$pkglibdir/bitcode/delta_sync.index.bc" "$pkglibdir/bitcode/delta_sync" \
         "$extdir"/delta_sync.control "$extdir"/delta_sync--*.sql; do
  [ -e "$f" ] || continue
  dpkg -S "$f" >/dev/null 2>&1 && fail "$f belongs to a package: $(dpkg -S "$f")"
  mkdir -p "$work/aside$(dirname "$f")"
  mv "$f" "$work/aside$f"
  moved+=("$f")
done
[ ${#moved[@]} -eq 0 ] || echo "kept aside until the end, unpackaged: ${moved[*]}"

echo "-- apt-get install"
apt install --no-install-recommends "${debs[@]}" >"$work/install.log" 2>&1 || { cat "$work/install.log"; fail "apt-get install"; }
for p in "${pkgs[@]}"; do
  installed "$p" || fail "$p is not installed after apt-get install"
  dpkg -L "$p" >"$work/$p.files"
done
verify=$(dpkg --verify "${pkgs[@]}" 2>&1) || true
[ -z "$verify" ] || fail "installed files differ from the packages': $verify"
for f in "$pkglibdir/delta_sync.so" "$extdir/delta_sync.control" "$extdir/delta_sync--$version.sql"; do
  grep -qx "$f" "$work/postgresql-15-delta-sync.files" || fail "postgresql-15-delta-sync lacks $f"
done
for f in /usr/bin/delta-sync /usr/share/man/man1/delta-sync.1.gz; do
  grep -qx "$f" "$work/delta-sync.files" || fail "delta-sync lacks $f"
done
ok "installed: $(wc -l <"$work/postgresql-15-delta-sync.files") + $(wc -l <"$work/delta-sync.files") paths, checksums verified"

echo "-- the packaged extension on a cluster of the system's binaries"
PGBIN=$sysbin tests/cluster.sh start "$work/pg" 5446
# shellcheck disable=SC1091
. "$work/pg/env"
sql() { "$sysbin/psql" -X -q -v ON_ERROR_STOP=1 -At "$@"; }
loaded=$(sql -c 'CREATE EXTENSION delta_sync' \
  -c "SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'delta_sync'" \
  -c "SELECT DISTINCT substring(l FROM '(/\S+delta_sync\.so)') FROM
        pg_catalog.regexp_split_to_table(pg_catalog.pg_read_file('/proc/self/maps'), E'\n') AS l
      WHERE l LIKE '%delta_sync.so%'")
[ "$loaded" = "$version
$pkglibdir/delta_sync.so" ] || fail "expected version $version loaded from $pkglibdir/delta_sync.so, got: $loaded"
ok "CREATE EXTENSION: version $version, the server mapped $pkglibdir/delta_sync.so"

echo "-- pg_regress (make installcheck against the packaged extension)"
ntests=$(ls sql/*.sql | wc -l)
if ! make -s installcheck PG_CONFIG="$sysbin/pg_config" EXTRA_REGRESS_OPTS="--outputdir=$work/regress" \
     >"$work/regress.log" 2>&1; then
  cat "$work/regress.log"
  [ -f "$work/regress/regression.diffs" ] && head -n 100 "$work/regress/regression.diffs"
  fail "pg_regress against the packaged extension"
fi
grep -q "All $ntests tests passed" "$work/regress.log" || { cat "$work/regress.log"; fail "pg_regress did not run all $ntests tests"; }
ok "pg_regress: all $ntests tests passed"

echo "-- debian/tests/installcheck (the autopkgtest: pg_regress in a pg_virtualenv cluster)"
if ! (cd build/deb/src && debian/tests/installcheck) >"$work/autopkgtest.log" 2>&1; then
  tail -n 60 "$work/autopkgtest.log"
  fail "debian/tests/installcheck"
fi
# All but sql/boundary.sql, whose probe module exists only in a built source tree.
grep -q "All $((ntests - 1)) tests passed" "$work/autopkgtest.log" || { cat "$work/autopkgtest.log"; fail "debian/tests/installcheck did not run all $((ntests - 1)) tests"; }
ok "debian/tests/installcheck: all $((ntests - 1)) tests passed (boundary needs a source tree)"

echo "-- the installed client"
help=$(/usr/bin/delta-sync --help) || fail "delta-sync --help exited $?"
for c in pull get diff track untrack status mcp; do
  echo "$help" | grep -qE "^  $c " || fail "delta-sync --help does not list $c"
  zcat /usr/share/man/man1/delta-sync.1.gz | grep -qx ".SS \"$c\"" || fail "the man page has no section for $c"
done
man -w delta-sync >/dev/null 2>&1 || [ ! -x /usr/bin/man ] || fail "man does not find delta-sync(1)"
ok "delta-sync --help lists its commands, and the man page documents each"

sql <<'SQL'
CREATE TABLE products (id bigint PRIMARY KEY, name text NOT NULL, price numeric(10,2));
SELECT delta_sync.track('products') \g /dev/null
INSERT INTO products VALUES (1, 'Grinder', 120.00), (2, 'Milk jug', 12.50), (3, 'Tamper', 30.00);
SQL
replica=$work/replica.db
rows() { sqlite3 "$replica" "SELECT group_concat(id || ':' || name || ':' || printf('%.2f', price), ' ') FROM (SELECT * FROM products ORDER BY id)"; }
/usr/bin/delta-sync pull products --replica "$replica" --quiet || fail "first pull exited $?"
[ "$(rows)" = "1:Grinder:120.00 2:Milk jug:12.50 3:Tamper:30.00" ] || fail "replica after the first pull: $(rows)"
sql -c "UPDATE products SET name = 'Milk pitcher' WHERE id = 2" -c "DELETE FROM products WHERE id = 3" \
    -c "INSERT INTO products VALUES (4, 'Knock box', 19.00)"
/usr/bin/delta-sync pull products --replica "$replica" --quiet || fail "second pull exited $?"
[ "$(rows)" = "1:Grinder:120.00 2:Milk pitcher:12.50 4:Knock box:19.00" ] || fail "replica after the second pull: $(rows)"
/usr/bin/delta-sync diff products --replica "$replica" >/dev/null || fail "delta-sync diff: the replica differs ($?)"
ok "/usr/bin/delta-sync pulled products (3 rows, then an update, a delete and an insert) and diff agrees"

PGBIN=$sysbin tests/cluster.sh stop "$work/pg"

echo "-- apt-get purge"
apt purge "${pkgs[@]}" >"$work/purge.log" 2>&1 || { cat "$work/purge.log"; fail "apt-get purge"; }
for p in "${pkgs[@]}"; do
  ! dpkg -s "$p" >/dev/null 2>&1 || fail "$p is still known to dpkg after purge: $(dpkg-query -W -f='${Status}' "$p")"
  left=()
  while IFS= read -r f; do
    [ "$f" = /. ] && continue
    if [ -d "$f" ] && [ ! -L "$f" ]; then
      # A directory stays only as long as another package owns it.
      dpkg -S "$f" >/dev/null 2>&1 || left+=("$f")
    elif [ -e "$f" ] || [ -L "$f" ]; then
      left+=("$f")
    fi
  done <"$work/$p.files"
  [ ${#left[@]} -eq 0 ] || fail "left behind by $p: ${left[*]}"
done
ok "purged: none of the $(cat "$work"/*.files | wc -l) installed paths is left"
