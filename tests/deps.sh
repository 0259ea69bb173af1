#!/usr/bin/env bash
# Installs, with apt-get, whatever the build and the test suites need and this machine lacks.
# Safe to run again: it only asks apt for packages dpkg does not already report as installed.
set -euo pipefail

packages=(
  postgresql-15 postgresql-server-dev-15
  libpqxx-dev libboost-test-dev libsimdjson-dev libsqlite3-dev sqlite3
  cmake make g++ clang libclang-rt-14-dev
  python3 python3-psycopg2 procps
  debhelper postgresql-server-dev-all dpkg-dev fakeroot help2man lintian git
  nlohmann-json3-dev libcpp-httplib-dev
)
# The MCP tests drive `delta-sync mcp` with the MCP TypeScript SDK: Node.js and npm from Debian
# unless the machine has them already.
command -v node >/dev/null || packages+=(nodejs)
command -v npm >/dev/null || packages+=(npm)
[ "${DELTA_SYNC_BENCH:-}" = 1 ] && packages+=(gnuplot-nox time)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "deps: missing packages (${missing[*]}); run as root or install them" >&2
  exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
