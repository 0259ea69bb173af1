#!/usr/bin/env bash
# A private copy of Debian's PostgreSQL 15 server tree, for running a checkout's suites beside
# another checkout's on one machine: PostgreSQL finds its share and lib directories relative to
# its binaries, so `make install` with this copy's pg_config installs the extension into the copy
# only.
#
#   eval "$(tests/private_pg.sh DIR)"    # then: make test, make installcheck, ...
set -euo pipefail
dir=${1:?usage: private_pg.sh DIR}
mkdir -p "$dir/usr/lib/postgresql" "$dir/usr/share/postgresql"
dir=$(cd "$dir" && pwd)
if [ ! -x "$dir/usr/lib/postgresql/15/bin/postgres" ]; then
  cp -a /usr/lib/postgresql/15 "$dir/usr/lib/postgresql/"
  cp -a /usr/share/postgresql/15 "$dir/usr/share/postgresql/"
  # Nothing of an earlier install of the extension comes along.
  rm -f "$dir"/usr/share/postgresql/15/extension/delta_sync* "$dir"/usr/lib/postgresql/15/lib/delta_sync.so
fi
# The server headers are read where pg_config says, relative to the copy.
mkdir -p "$dir/usr/include"
[ -e "$dir/usr/include/postgresql" ] || ln -s /usr/include/postgresql "$dir/usr/include/postgresql"
chmod o+rx "$dir"
chmod -R o+rX "$dir/usr"
echo "export PG_CONFIG='$dir/usr/lib/postgresql/15/bin/pg_config'"
echo "export PGBIN='$dir/usr/lib/postgresql/15/bin'"
