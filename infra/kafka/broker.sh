#!/usr/bin/env bash
# Single-node Apache Kafka (KRaft, broker+controller in one JVM) for tests,
# benchmarks and CI, with no Docker: the broker jars come from Maven Central
# through pom.xml beside this script.
#
#   broker.sh install   resolve the jars once into $KAFKA_LIB_DIR
#   broker.sh start     start (or find running) broker; last stdout line = bootstrap address
#   broker.sh stop      SIGTERM, then SIGKILL after ~20 s; exit 0 if not running
#   broker.sh status    "running <addr> pid <pid>" (exit 0) or "stopped" (exit 3)
#
# Everything except the jars lives in $KAFKA_DATA_DIR, so several brokers can
# run at once with different KAFKA_DATA_DIR and KAFKA_PORT values.
#
# Environment:
#   KAFKA_PORT             PLAINTEXT port on 127.0.0.1 (default 9092)
#   KAFKA_CONTROLLER_PORT  KRaft controller port (default KAFKA_PORT+1 if free, else any free port)
#   KAFKA_DATA_DIR         config, log dirs, broker.log, broker.pid (default infra/kafka/.data)
#   KAFKA_LIB_DIR          jar cache shared by all brokers (default infra/kafka/.lib)
#   KAFKA_HEAP_OPTS        JVM heap (default "-Xms256m -Xmx512m")
#   KAFKA_START_TIMEOUT    seconds to wait for readiness (default 60)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
POM="$HERE/pom.xml"
# Absolute paths: the pid check matches the props path in the java command line.
LIB_DIR="$(realpath -m "${KAFKA_LIB_DIR:-$HERE/.lib}")"
DATA_DIR="$(realpath -m "${KAFKA_DATA_DIR:-$HERE/.data}")"
PORT="${KAFKA_PORT:-9092}"
HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
START_TIMEOUT="${KAFKA_START_TIMEOUT:-60}"

PROPS="$DATA_DIR/server.properties"
PID_FILE="$DATA_DIR/broker.pid"
ADDR_FILE="$DATA_DIR/broker.addr"
LOG_FILE="$DATA_DIR/broker.log"

die() { echo "broker.sh: $*" >&2; exit 1; }

pom_hash() { sha256sum "$POM" | cut -d' ' -f1; }

cmd_install() {
  local marker="$LIB_DIR/.pom.sha256"
  mkdir -p "$LIB_DIR"
  # Lock so parallel test workers don't resolve into the same dir at once.
  exec 8>"$LIB_DIR/.lock"
  flock 8
  if [[ -f "$marker" && "$(cat "$marker")" == "$(pom_hash)" ]]; then return 0; fi
  command -v mvn >/dev/null || die "install: mvn not found (need Maven 3 and Java 17+)"
  echo "broker.sh: resolving Kafka jars into $LIB_DIR ..." >&2
  local tmp="$LIB_DIR/.tmp.$$"
  rm -rf "$tmp"
  # Output kept and shown only on failure: start's stdout must carry only the
  # address (and Debian's mvn prints stray colour resets even with -q).
  local out
  if ! out="$(mvn -B -q -f "$POM" dependency:copy-dependencies \
      -DoutputDirectory="$tmp" 2>&1)"; then
    echo "$out" >&2; rm -rf "$tmp"
    die "install: 'mvn dependency:copy-dependencies' failed (no access to Maven Central?)"
  fi
  # Swap in the new jar set only once it's complete, then mark it with the pom hash.
  find "$LIB_DIR" -maxdepth 1 -name '*.jar' -delete
  mv "$tmp"/*.jar "$LIB_DIR"/
  rm -rf "$tmp"
  pom_hash >"$marker"
  flock -u 8
}

# Pid of our broker if it's alive (guards against a stale pid file / pid reuse).
running_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid; pid="$(cat "$PID_FILE")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
  grep -qF "kafka.Kafka $PROPS" < <(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  echo "$pid"
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() {
  # Ask the OS for an unused port; node is there anyway for this project.
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

write_config() {
  local cport="$1"
  mkdir -p "$DATA_DIR/logs"
  cat >"$PROPS" <<EOF
# Written by broker.sh start; rewritten on every start.
process.roles=broker,controller
node.id=1
# Static quorum: this node is the only voter, so a changed controller port
# on restart is harmless (the config, not the log, is the source of truth).
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$DATA_DIR/logs
# One node: every internal topic must get by with one replica.
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# Tests want fast group joins and explicit topics.
group.initial.rebalance.delay.ms=0
num.partitions=1
auto.create.topics.enable=false
# Room for the 10 MB message test (plus batch overhead).
message.max.bytes=16777216
replica.fetch.max.bytes=16777216
# Small machine (2 cores): fewer threads than the defaults.
num.network.threads=2
num.io.threads=4
EOF
  # log4j2 to stdout, which start redirects into broker.log (so JVM crash
  # output lands there too); the chatty request/state-change loggers are muted.
  cat >"$DATA_DIR/log4j2.properties" <<'EOF'
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
logger.kafka.name = org.apache.kafka
logger.kafka.level = WARN
EOF
}

cmd_start() {
  mkdir -p "$DATA_DIR"
  exec 9>"$DATA_DIR/.lock"
  flock 9   # two starts on one data dir must not race each other
  local pid
  if pid="$(running_pid)"; then cat "$ADDR_FILE"; return 0; fi
  rm -f "$PID_FILE" "$ADDR_FILE"
  port_in_use "$PORT" && die "start: 127.0.0.1:$PORT is already in use (set KAFKA_PORT)"

  cmd_install
  command -v java >/dev/null || die "start: java not found (need Java 17+)"

  local cport="${KAFKA_CONTROLLER_PORT:-}"
  if [[ -z "$cport" ]]; then
    cport=$((PORT + 1))
    port_in_use "$cport" && cport="$(free_port)"
  fi
  write_config "$cport"

  local cp="$LIB_DIR/*"
  if [[ ! -f "$DATA_DIR/logs/meta.properties" ]]; then
    local cluster_id
    cluster_id="$(java -cp "$cp" kafka.tools.StorageTool random-uuid 2>>"$LOG_FILE")"
    java -cp "$cp" -Dlog4j2.configurationFile="$DATA_DIR/log4j2.properties" \
      kafka.tools.StorageTool format -t "$cluster_id" -c "$PROPS" >>"$LOG_FILE" 2>&1 \
      || { tail -n 30 "$LOG_FILE" >&2; die "start: storage format failed"; }
  fi

  local log_start=0
  [[ -f "$LOG_FILE" ]] && log_start="$(wc -l <"$LOG_FILE")"
  # setsid + no stdin: the broker outlives this script and the caller's
  # terminal; 8>&- 9>&- so it doesn't keep holding our flock fds.
  # shellcheck disable=SC2086  # HEAP_OPTS is a list of JVM flags
  setsid java $HEAP_OPTS -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$DATA_DIR/log4j2.properties" \
    -cp "$cp" kafka.Kafka "$PROPS" </dev/null >>"$LOG_FILE" 2>&1 8>&- 9>&- &
  pid=$!
  echo "$pid" >"$PID_FILE"

  # Ready = port open AND the server logged that startup finished (in KRaft
  # mode that comes after the broker is unfenced, i.e. can take requests).
  local deadline=$((SECONDS + START_TIMEOUT))
  until port_in_use "$PORT" && awk -v from="$log_start" \
      'NR > from && /Kafka Server started/ { ok = 1 } END { exit !ok }' "$LOG_FILE"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 40 "$LOG_FILE" >&2; rm -f "$PID_FILE"; die "start: broker exited during startup"
    fi
    if ((SECONDS >= deadline)); then
      tail -n 40 "$LOG_FILE" >&2; cmd_stop >/dev/null
      die "start: broker not ready after ${START_TIMEOUT}s"
    fi
    sleep 0.3
  done
  echo "127.0.0.1:$PORT" | tee "$ADDR_FILE"
}

cmd_stop() {
  local pid
  if ! pid="$(running_pid)"; then rm -f "$PID_FILE" "$ADDR_FILE"; return 0; fi
  kill -TERM "$pid" 2>/dev/null || true
  # Controlled shutdown normally takes a few seconds.
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then
    echo "broker.sh: pid $pid ignored SIGTERM for 20 s, sending SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  fi
  rm -f "$PID_FILE" "$ADDR_FILE"
}

cmd_status() {
  local pid
  if pid="$(running_pid)"; then echo "running $(cat "$ADDR_FILE" 2>/dev/null) pid $pid"; return 0; fi
  echo "stopped"; return 3
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) echo "usage: $0 start|stop|status|install" >&2; exit 2 ;;
esac
