#!/usr/bin/env bash
# The ClickHouse JDBC driver (com.clickhouse:jdbc-v2 0.10.0, from Maven
# Central through pom.xml beside this script) run against a query endpoint,
# for test/query-endpoint-jdbc.test.ts. No Docker, nothing built: the jars are
# resolved once, and JdbcCheck.java runs as a single source file.
#
#   jdbc.sh install              resolve the jars once into $JDBC_LIB_DIR (cached by the pom's hash; idempotent)
#   jdbc.sh run URL USER PASSWORD CHECK...
#                                run JdbcCheck.java (see its header): one JSON line per check on stdout
#
# Environment:
#   JDBC_LIB_DIR   jar cache (default test/jdbc/.lib)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
POM="$HERE/pom.xml"
LIB_DIR="$(realpath -m "${JDBC_LIB_DIR:-$HERE/.lib}")"
MARKER="$LIB_DIR/.pom.sha256"

die() { echo "jdbc.sh: $*" >&2; exit 1; }

pom_hash() { sha256sum "$POM" | cut -d' ' -f1; }

installed() { [[ -f "$MARKER" && "$(cat "$MARKER")" == "$(pom_hash)" ]]; }

cmd_install() {
  mkdir -p "$LIB_DIR"
  # Lock so parallel test runs don't resolve into the same dir at once.
  exec 8>"$LIB_DIR/.lock"
  flock 8
  if installed; then return 0; fi
  command -v mvn >/dev/null || die "install: mvn not found (need Maven 3 and Java 17+)"
  echo "jdbc.sh: resolving the ClickHouse JDBC driver's jars into $LIB_DIR ..." >&2
  local tmp="$LIB_DIR/.tmp.$$"
  rm -rf "$tmp"
  # Output kept and shown only on failure (Debian's mvn prints stray colour resets even with -q).
  local out
  if ! out="$(mvn -B -q -f "$POM" dependency:copy-dependencies -DoutputDirectory="$tmp" 2>&1)"; then
    echo "$out" >&2; rm -rf "$tmp"
    die "install: 'mvn dependency:copy-dependencies' failed (no access to Maven Central?)"
  fi
  # Swap in the new jar set only once it's complete, then mark it with the pom hash.
  find "$LIB_DIR" -maxdepth 1 -name '*.jar' -delete
  mv "$tmp"/*.jar "$LIB_DIR"/
  rm -rf "$tmp"
  pom_hash >"$MARKER"
  flock -u 8
}

cmd_run() {
  installed || die "run: the JDBC driver's jars are missing or stale in $LIB_DIR: run 'bash test/jdbc/jdbc.sh install' (needs Maven 3 and Java 17+)"
  command -v java >/dev/null || die "run: java not found (need Java 17+)"
  # Serial GC and no tiered compilation beyond C1 for the short run: the JVM starts faster on two cores.
  exec java -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xss1m \
    -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -Dorg.slf4j.simpleLogger.logFile=System.err \
    -cp "$LIB_DIR/*" "$HERE/JdbcCheck.java" "$@"
}

case "${1:-}" in
  install) cmd_install ;;
  run) shift; cmd_run "$@" ;;
  *) echo "usage: $0 install | run URL USER PASSWORD CHECK..." >&2; exit 2 ;;
esac
