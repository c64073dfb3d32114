#!/usr/bin/env bash
# A real single-node Ceph cluster (1 mon, 1 mgr, 1 OSD) for tests, without cephadm or
# systemd. Everything it makes — config, keyrings, daemon data, logs, admin sockets,
# pid files — lives under DIR, so several clusters can run side by side.
#
#   scripts/ceph-test-cluster.sh start  DIR   # bootstrap + start; returns when a pool and an rbd image can be made
#   scripts/ceph-test-cluster.sh stop   DIR   # OSD, then mgr, then mon; waits for each to exit
#   scripts/ceph-test-cluster.sh status DIR   # exit 0 when running and answering, 3 when stopped
#
# Clients only need the config:  ceph -c DIR/ceph.conf -s   /   CEPH_CONF=DIR/ceph.conf rbd ls
#
# `start` on a cluster that already runs in DIR does nothing. A cluster that is stopped
# (or half running) is wiped and made afresh: the OSD keeps its data in RAM (memstore),
# so there is nothing worth keeping.
#
# Sharing between processes (e.g. test files running in parallel): every invocation
# holds an flock on DIR/.lock. With CEPH_TEST_HOLDER=<pid> set, `start` records that
# pid as a user of the cluster and `stop` removes it, stopping the daemons only when
# no live user is left. Without CEPH_TEST_HOLDER, `stop` stops unconditionally.
#
# Every step is bounded (a daemon's parent waits for its child's init, which can hang):
# a bootstrap that does not finish in CEPH_TEST_BOOT_TIMEOUT is stopped and tried once
# more from scratch, and each line on stderr says how far into the call it was written,
# so a caller's timeout shows where the time went.
#
# Environment: CEPH_TEST_OBJECTSTORE=memstore|bluestore (default: memstore, falling
# back to bluestore on a sparse file when memstore does not come up),
# CEPH_TEST_BOOT_TIMEOUT (seconds per bootstrap attempt, default 90),
# CEPH_TEST_LOCK_TIMEOUT (seconds to wait for another call's lock, default 200), CEPH_TEST_ADDR (the one address the
# daemons bind and clients reach, IPv4 or IPv6; default 127.0.0.1: the root namespace only.
# A multi-host testbed gives its own cluster its underlay bridge's address, so QEMU in the
# host namespaces reaches it too; read at bootstrap only).
set -euo pipefail

CMD=${1:-}
DIR=${2:-}
if [[ -z "$CMD" || -z "$DIR" ]]; then
  echo "usage: $0 start|stop|status DIR" >&2
  exit 2
fi
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
CONF="$DIR/ceph.conf"
BOOT_TIMEOUT=${CEPH_TEST_BOOT_TIMEOUT:-90}
LOCK_TIMEOUT=${CEPH_TEST_LOCK_TIMEOUT:-200}
CEPH_CALL_TIMEOUT=10
# A daemon's start returns once its child has initialised (ceph-osd's init waits for the mon):
# each is bounded, by this and by what is left of the bootstrap's time.
DAEMON_START_TIMEOUT=30
BOOT_DEADLINE=$(($(date +%s) + BOOT_TIMEOUT)) # set again for each bootstrap attempt
ADDR=${CEPH_TEST_ADDR:-127.0.0.1}
# Ceph writes an IPv6 address in brackets in entity addresses ([v2:[fd00::1]:3300,…]).
if [[ "$ADDR" == *:* ]]; then EADDR="[$ADDR]"; BIND_V6=true; else EADDR=$ADDR; BIND_V6=false; fi

now_ms() { date +%s%3N; }
T0=$(now_ms)
log() { echo "ceph-test-cluster [$(($(now_ms) - T0)) ms]: $*" >&2; }
time_left() { # limit-seconds → the smaller of it and the seconds left before BOOT_DEADLINE
  local left=$((BOOT_DEADLINE - $(date +%s)))
  echo $((left < $1 ? left : $1))
}
bounded() { # what log-file command... : a mkfs or daemon start, bounded, its output appended to log-file; says why it failed
  local what=$1 out=$2 left rc=0
  shift 2
  left=$(time_left "$DAEMON_START_TIMEOUT")
  ((left > 0)) || { log "$what: no time left"; return 1; }
  timeout "$left" "$@" >>"$out" 2>&1 </dev/null 9>&- || rc=$?
  ((rc == 0)) && return 0
  if ((rc == 124)); then log "$what: timed out after ${left}s"; else log "$what: failed (exit $rc)"; fi
  return 1
}

# Every ceph/rbd call is bounded: they hang forever when the mon is down.
c_ceph() { timeout "$CEPH_CALL_TIMEOUT" ceph -c "$CONF" --connect-timeout 8 "$@"; }
c_rbd() { timeout "$CEPH_CALL_TIMEOUT" rbd -c "$CONF" "$@"; }

pid_of() { # name (mon.a, mgr.x, osd.0) → pid if that daemon is alive
  local f="$DIR/run/$1.pid" pid
  [[ -s "$f" ]] || return 1
  pid=$(<"$f")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  # guard against pid reuse: the process must be a ceph daemon using our config
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$CONF" || return 1
  echo "$pid"
}

all_running() {
  pid_of mon.a >/dev/null && pid_of mgr.x >/dev/null && pid_of osd.0 >/dev/null
}

any_running() {
  pid_of mon.a >/dev/null || pid_of mgr.x >/dev/null || pid_of osd.0 >/dev/null
}

stop_daemon() { # name
  local pid i
  pid=$(pid_of "$1") || { rm -f "$DIR/run/$1.pid"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 150; i++)); do # 15 s of grace, then SIGKILL
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$1 (pid $pid) ignored SIGTERM; killing it"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 200; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.05
    done
    kill -0 "$pid" 2>/dev/null && log "$1 (pid $pid) still there 10 s after SIGKILL ($(awk '/^State:/ {print $2, $3}' "/proc/$pid/status" 2>/dev/null)); going on"
  fi
  rm -f "$DIR/run/$1.pid"
}

stop_all() {
  stop_daemon osd.0
  stop_daemon mgr.x
  stop_daemon mon.a
}

free_port() { # a TCP port nobody listens on, in 20000-59999
  local p i
  for ((i = 0; i < 200; i++)); do
    p=$((20000 + RANDOM % 40000))
    if ! ss -Hltn "sport = :$p" | grep -q .; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

write_conf() { # fsid v2port v1port objectstore
  cat >"$CONF" <<EOF
# generated by scripts/ceph-test-cluster.sh: a one-OSD test cluster, do not use for data
[global]
fsid = $1
mon_host = [v2:$EADDR:$2,v1:$EADDR:$3]
mon_initial_members = a
auth_cluster_required = cephx
auth_service_required = cephx
auth_client_required = cephx
run_dir = $DIR/run
crash_dir = $DIR/crash
log_file = $DIR/log/\$cluster-\$name.log
mon_cluster_log_file = $DIR/log/\$cluster.log
keyring = $DIR/\$cluster.\$name.keyring
# one OSD: one replica, no host-level failure domain, no autoscaler, small pools
osd_pool_default_size = 1
osd_pool_default_min_size = 1
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
osd_crush_chooseleaf_type = 0
osd_pool_default_pg_autoscale_mode = off
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
mon_allow_pool_delete = true
# the disk here is often < 30 % free: without this, health flaps to WARN
mon_data_avail_warn = 1
mon_data_avail_crit = 0
auth_allow_insecure_global_id_reclaim = false
mon_warn_on_insecure_global_id_reclaim_allowed = false
# one address (CEPH_TEST_ADDR), quick to notice a dead peer
ms_bind_ipv6 = $BIND_V6
ms_bind_ipv4 = $([[ $BIND_V6 == true ]] && echo false || echo true)
public_addr = $ADDR

[mon]
mon_data = $DIR/mon/\$cluster-\$id
keyring = $DIR/mon/\$cluster-\$id/keyring
admin_socket = $DIR/run/\$cluster-\$name.asok
pid_file = $DIR/run/\$name.pid
# commit map changes every 50 ms instead of every second: pool and snapshot creation
# (each an osdmap change) take ~0.1 s instead of ~1 s
paxos_propose_interval = 0.05

[mgr]
mgr_data = $DIR/mgr/\$cluster-\$id
keyring = $DIR/mgr/\$cluster-\$id/keyring
admin_socket = $DIR/run/\$cluster-\$name.asok
pid_file = $DIR/run/\$name.pid
# the always-on modules are enough; no dashboard, no telemetry
mgr_initial_modules = iostat

[osd]
osd_data = $DIR/osd/\$cluster-\$id
keyring = $DIR/osd/\$cluster-\$id/keyring
admin_socket = $DIR/run/\$cluster-\$name.asok
pid_file = $DIR/run/\$name.pid
osd_objectstore = $4
memstore_device_bytes = 8589934592
bluestore_block_path = $DIR/osd/\$cluster-\$id/block.img
bluestore_block_create = true
bluestore_block_size = 21474836480
bluestore_cache_size = 134217728
osd_memory_target = 536870912
EOF
}

wait_for() { # description timeout-seconds command... (never past the bootstrap's deadline)
  local what=$1 limit=$2 deadline
  shift 2
  limit=$(time_left "$limit")
  deadline=$(($(date +%s) + limit))
  until "$@" >/dev/null 2>&1; do
    if (($(date +%s) >= deadline)); then
      log "timed out after ${limit}s waiting for $what (logs: $DIR/log)"
      return 1
    fi
    sleep 0.2
  done
}

osd_is_up() { c_ceph osd dump --format json | grep -q '"up":1'; }

# A pool whose PGs are active and an rbd image made and removed in it: what callers need.
probe() {
  c_ceph osd pool ls | grep -qx rbd || c_ceph osd pool create rbd 8 8 >/dev/null || return 1
  c_ceph osd pool application get rbd 2>/dev/null | grep -q rbd || c_rbd pool init rbd || return 1
  c_rbd create --size 4M rbd/ucloud-probe || return 1
  c_rbd rm --no-progress rbd/ucloud-probe || return 1
}

start_osd() { # objectstore
  local osd_uuid secret id
  rm -rf "$DIR/osd/ceph-0"
  mkdir -p "$DIR/osd/ceph-0"
  osd_uuid=$(uuidgen)
  secret=$(ceph-authtool --gen-print-key)
  if ! c_ceph osd dump --format json | grep -q '"osd":0'; then
    id=$(printf '{"cephx_secret": "%s"}' "$secret" | c_ceph osd new "$osd_uuid" -i -)
    [[ "$id" == 0 ]] || { log "expected osd id 0, got '$id'"; return 1; }
  else # a previous objectstore attempt left osd.0 registered: give it the new identity
    c_ceph osd purge 0 --yes-i-really-mean-it >/dev/null
    id=$(printf '{"cephx_secret": "%s"}' "$secret" | c_ceph osd new "$osd_uuid" -i -)
  fi
  ceph-authtool --create-keyring "$DIR/osd/ceph-0/keyring" --name osd.0 --add-key "$secret" >/dev/null
  sed -i "s/^osd_objectstore = .*/osd_objectstore = $1/" "$CONF"
  bounded "osd.0 mkfs ($1)" "$DIR/log/osd-mkfs.log" ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$osd_uuid" || return 1
  bounded "osd.0 start ($1)" "$DIR/log/osd-start.log" ceph-osd -c "$CONF" -i 0 || return 1
  log "osd.0 started ($1)"
  wait_for "osd.0 up ($1)" 45 osd_is_up
}

bootstrap() {
  local t0 fsid p2 p1 store
  t0=$(now_ms)
  rm -rf "$DIR/mon" "$DIR/mgr" "$DIR/osd" "$DIR/run" "$DIR/log" "$DIR/crash" "$DIR"/*.keyring "$DIR/monmap" "$CONF"
  mkdir -p "$DIR/mon" "$DIR/mgr/ceph-x" "$DIR/osd" "$DIR/run" "$DIR/log" "$DIR/crash"
  fsid=$(uuidgen)
  p2=$(free_port)
  p1=$(free_port)
  while [[ "$p1" == "$p2" ]]; do p1=$(free_port); done
  store=${CEPH_TEST_OBJECTSTORE:-memstore}
  write_conf "$fsid" "$p2" "$p1" "$store"

  # mon with the client.admin key in its keyring
  ceph-authtool --create-keyring "$DIR/mon.keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-authtool --create-keyring "$DIR/ceph.client.admin.keyring" --gen-key -n client.admin \
    --cap mon 'allow *' --cap osd 'allow *' --cap mds 'allow *' --cap mgr 'allow *' >/dev/null
  ceph-authtool "$DIR/mon.keyring" --import-keyring "$DIR/ceph.client.admin.keyring" >/dev/null
  monmaptool --create --fsid "$fsid" --addv a "[v2:$EADDR:$p2,v1:$EADDR:$p1]" "$DIR/monmap" >/dev/null
  bounded "mon.a mkfs" "$DIR/log/mon-mkfs.log" ceph-mon -c "$CONF" --mkfs -i a --monmap "$DIR/monmap" --keyring "$DIR/mon.keyring" || return 1
  bounded "mon.a start" "$DIR/log/mon-start.log" ceph-mon -c "$CONF" -i a || return 1
  wait_for "the mon to answer" 30 c_ceph mon stat || return 1
  log "mon.a answers"

  # mgr
  c_ceph auth get-or-create mgr.x mon 'allow profile mgr' osd 'allow *' mds 'allow *' \
    -o "$DIR/mgr/ceph-x/keyring" >/dev/null || { log "cannot make mgr.x's key"; return 1; }
  bounded "mgr.x start" "$DIR/log/mgr-start.log" ceph-mgr -c "$CONF" -i x || return 1

  # OSD: memstore (RAM, fastest) unless it fails, then bluestore on a sparse file
  if ! start_osd "$store"; then
    if [[ "$store" == memstore ]]; then
      log "memstore OSD did not come up; falling back to bluestore on a sparse file"
      stop_daemon osd.0
      start_osd bluestore || return 1
    else
      return 1
    fi
  fi

  wait_for "a pool and an rbd image to be usable" "$BOOT_TIMEOUT" probe || return 1
  local t1
  t1=$(now_ms)
  log "ready in $((t1 - t0)) ms ($(grep '^osd_objectstore' "$CONF" | cut -d' ' -f3) OSD, mon on $EADDR:$p2); conf: $CONF"
}

holders_prune() { # drop holders whose process is gone
  local f
  mkdir -p "$DIR/holders"
  for f in "$DIR/holders"/*; do
    [[ -e "$f" ]] || continue
    kill -0 "$(basename "$f")" 2>/dev/null || rm -f "$f"
  done
}

holders_count() { find "$DIR/holders" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }

rss_report() {
  local name pid rss total=0
  for name in mon.a mgr.x osd.0; do
    pid=$(pid_of "$name") || continue
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
    total=$((total + rss))
    printf '%s pid %s rss %d MiB\n' "$name" "$pid" $((rss / 1024))
  done
  printf 'total rss %d MiB\n' $((total / 1024))
}

exec 9>"$DIR/.lock"
if ! flock -n 9; then
  log "waiting for the lock (held by: $(cat "$DIR/.lock-owner" 2>/dev/null || echo unknown))"
  flock -w "$LOCK_TIMEOUT" 9 || { log "gave up waiting ${LOCK_TIMEOUT}s for the lock"; exit 1; }
  log "got the lock"
fi
echo "pid $$ ($CMD${CEPH_TEST_HOLDER:+ for $CEPH_TEST_HOLDER}) since $(date -u +%H:%M:%S)" >"$DIR/.lock-owner"

case "$CMD" in
  start)
    if all_running && c_ceph health >/dev/null 2>&1; then
      log "already running in $DIR"
    else
      if any_running; then
        log "half running in $DIR: stopping what is left and starting afresh"
        stop_all
      fi
      started=false
      for attempt in 1 2; do
        BOOT_DEADLINE=$(($(date +%s) + BOOT_TIMEOUT))
        if bootstrap; then
          started=true
          break
        fi
        log "start attempt $attempt failed; stopping what was started (logs kept in $DIR/log)"
        for f in "$DIR"/log/*.log; do [[ -s "$f" ]] && { log "last lines of $f:"; tail -n 8 "$f" >&2; }; done
        stop_all
      done
      $started || exit 1
    fi
    if [[ -n "${CEPH_TEST_HOLDER:-}" ]]; then
      holders_prune
      : >"$DIR/holders/$CEPH_TEST_HOLDER"
    fi
    echo "$CONF"
    ;;
  stop)
    if [[ -n "${CEPH_TEST_HOLDER:-}" ]]; then
      rm -f "$DIR/holders/$CEPH_TEST_HOLDER"
      holders_prune
      if (($(holders_count) > 0)); then
        log "still used by $(holders_count) other process(es); leaving it running"
        exit 0
      fi
    fi
    stop_all
    rm -rf "$DIR/holders"
    ;;
  status)
    if all_running && c_ceph health >/dev/null 2>&1; then
      rss_report
      c_ceph -s
      exit 0
    fi
    for name in mon.a mgr.x osd.0; do
      if pid=$(pid_of "$name"); then echo "$name running (pid $pid)"; else echo "$name stopped"; fi
    done
    exit 3
    ;;
  *)
    echo "usage: $0 start|stop|status DIR" >&2
    exit 2
    ;;
esac
