#!/usr/bin/env bash
# A private Docker engine for the tests: Debian's docker.io dockerd with all its state under
# one directory and its own unix socket, so it never meets a system engine.
#
#   eval "$(scripts/docker-engine.sh start)"   # prints `export DOCKER_HOST=unix://…`
#   scripts/docker-engine.sh status            # exit 0 when the engine answers
#   scripts/docker-engine.sh stop [--purge]    # stop, undo host changes; --purge drops images
#
# NP_DOCKER_DIR (default /tmp/np-docker) selects the instance; instances are independent.
# The engine runs with --bridge=none --iptables=false: it changes no iptables rule, sysctl or
# interface. Containers use `--network host` (they reach services on the host's 127.0.0.1) or
# a user-defined network (`docker network create`, the compose default; the host is its
# gateway address). Whatever the engine changed anyway (a user network's br-* bridge, or
# rules if someone runs it with iptables on) is undone by `stop` against the state recorded
# by `start`. NP_DOCKER_BRIDGE=1 gives Docker's default networking instead (docker0, DOCKER
# chains, MASQUERADE, FORWARD policy DROP, ip_forward=1; one such instance at a time), which
# `stop` undoes the same way. Use /usr/bin/docker (docker.io's client; the one in
# /usr/local/bin is a newer client that also works, by downgrading its API version).
set -euo pipefail

dir=${NP_DOCKER_DIR:-/tmp/np-docker}
sock=$dir/docker.sock
pidfile=$dir/dockerd.pid
state=$dir/host-state
log=$dir/dockerd.log
docker=/usr/bin/docker
dockerd=/usr/sbin/dockerd
# One containerd namespace per instance, so two instances sharing a system containerd
# could not see each other's containers.
namespace=np-$(printf '%s' "$dir" | md5sum | cut -c1-8)

say() { echo "docker-engine: $*" >&2; }

engine_answers() {
  [[ -S $sock ]] || return 1
  if command -v curl >/dev/null 2>&1; then
    curl -sf --max-time 2 --unix-socket "$sock" http://docker/_ping >/dev/null 2>&1
  else
    DOCKER_HOST=unix://$sock timeout 5 "$docker" version >/dev/null 2>&1
  fi
}

# Alive and not a zombie (a killed dockerd waits for PID 1 to reap it).
alive() {
  local st
  st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) && [[ -n $st && $st != Z ]]
}

dockerd_pid() {
  local pid
  [[ -f $pidfile ]] || return 1
  pid=$(<"$pidfile")
  [[ -n $pid ]] && alive "$pid" && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == dockerd ]] || return 1
  echo "$pid"
}

package_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

ensure_packages() {
  local missing=() pkg
  for pkg in docker.io docker-compose; do
    package_installed "$pkg" || missing+=("$pkg")
  done
  ((${#missing[@]} == 0)) && [[ -x $dockerd && -x $docker ]] && return 0
  ((${#missing[@]} == 0)) && missing=(docker.io)
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  local install=(apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300)
  # Keep the package from starting the system's docker service (we run our own instance).
  local policy=/usr/sbin/policy-rc.d created_policy=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created_policy=1
  fi
  local ok=0
  # apt-get update only when the lists are missing or stale (the install then fails).
  if "${install[@]}" "${missing[@]}" >"$dir/apt.log" 2>&1; then
    ok=1
  else
    say "apt-get install failed; running apt-get update and retrying"
    apt-get update -qq -o DPkg::Lock::Timeout=300 >>"$dir/apt.log" 2>&1 || true
    "${install[@]}" "${missing[@]}" >>"$dir/apt.log" 2>&1 && ok=1
  fi
  ((created_policy)) && rm -f "$policy"
  if ((!ok)); then
    tail -20 "$dir/apt.log" >&2
    say "could not install ${missing[*]}"
    return 1
  fi
}

# What `stop` restores: rules and chains (per table), bridges, IP forwarding.
record_host_state() {
  [[ -d $state ]] && return 0 # a previous start was never stopped: keep its "before"
  mkdir -p "$state.tmp"
  local cmd
  for cmd in iptables ip6tables; do
    if command -v "$cmd-save" >/dev/null 2>&1; then
      "$cmd-save" >"$state.tmp/$cmd" 2>/dev/null || : >"$state.tmp/$cmd"
    fi
  done
  ip -o link show type bridge 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 >"$state.tmp/bridges"
  cat /proc/sys/net/ipv4/ip_forward >"$state.tmp/ip_forward"
  mv "$state.tmp" "$state"
}

# Policy of a built-in chain in iptables-save output; ACCEPT when the table is absent (the
# kernel default).
chain_policy() { # file table chain
  awk -v t="*$2" -v c=":$3" '$1 ~ /^\*/ {in_t = ($1 == t)} in_t && $1 == c {p = $2} END {print p ? p : "ACCEPT"}' "$1"
}

# Lines "table<TAB>rule" (rules as -A …) and "table<TAB>:chain policy" from iptables-save.
tabled() {
  awk '/^\*/ {t = substr($1, 2); next} /^(-A|:)/ {print t "\t" $0}' "$1"
}

undo_iptables() { # iptables|ip6tables
  local cmd=$1 before=$state/$1 now table rule chain
  [[ -f $before ]] && command -v "$cmd-save" >/dev/null 2>&1 || return 0
  now=$(mktemp)
  "$cmd-save" >"$now" 2>/dev/null || { rm -f "$now"; return 0; }
  # Rules added since start that belong to Docker (its chains, bridges, masquerading),
  # deleted newest first; rules anyone else added meanwhile are left alone.
  while IFS=$'\t' read -r table rule; do
    eval "set -- ${rule/#-A/-D}"
    "$cmd" -w 5 -t "$table" "$@" 2>/dev/null || true
  done < <(comm -13 <(tabled "$before" | grep -v $'\t:' | sort -u) \
    <(tabled "$now" | grep -v $'\t:' | sort -u) | grep -E 'DOCKER|docker0|br-[0-9a-f]{12}|MASQUERADE' | tac || true)
  # Docker's own chains that did not exist before.
  local chains=()
  mapfile -t chains < <(comm -13 <(tabled "$before" | grep $'\t:DOCKER' | cut -d' ' -f1 | sort -u) \
    <(tabled "$now" | grep $'\t:DOCKER' | cut -d' ' -f1 | sort -u) || true)
  for chain in "${chains[@]}"; do
    "$cmd" -w 5 -t "${chain%%$'\t'*}" -F "${chain#*$'\t:'}" 2>/dev/null || true
  done
  for chain in "${chains[@]}"; do
    "$cmd" -w 5 -t "${chain%%$'\t'*}" -X "${chain#*$'\t:'}" 2>/dev/null || true
  done
  local was is
  was=$(chain_policy "$before" filter FORWARD)
  is=$(chain_policy "$now" filter FORWARD)
  [[ $was == "$is" ]] || "$cmd" -w 5 -P FORWARD "$was"
  # iptables-nft leaves the tables it created behind, empty; drop them when nft is there.
  if command -v nft >/dev/null 2>&1 && [[ $("$cmd" -V 2>/dev/null) == *nf_tables* ]]; then
    local family=ip
    [[ $cmd == ip6tables ]] && family=ip6
    "$cmd-save" >"$now" 2>/dev/null || : >"$now"
    for table in $(awk '/^\*/ {print substr($1, 2)}' "$now"); do
      grep -qx "\*$table" "$before" && continue
      awk -v t="*$table" '$1 ~ /^\*/ {in_t = ($1 == t)} in_t && (/^-A/ || (/^:/ && $2 != "ACCEPT")) {f = 1} END {exit !f}' "$now" &&
        continue
      nft delete table "$family" "$table" 2>/dev/null || true
    done
  fi
  rm -f "$now"
}

restore_host_state() {
  [[ -d $state ]] || return 0
  undo_iptables iptables
  undo_iptables ip6tables
  local bridge
  while read -r bridge; do
    [[ $bridge == docker0 || $bridge =~ ^br-[0-9a-f]{12}$ ]] || continue
    grep -qx "$bridge" "$state/bridges" || ip link delete "$bridge" 2>/dev/null || true
  done < <(ip -o link show type bridge 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1)
  local fwd
  fwd=$(<"$state/ip_forward")
  [[ $(</proc/sys/net/ipv4/ip_forward) == "$fwd" ]] || echo "$fwd" >/proc/sys/net/ipv4/ip_forward
  rm -rf "$state"
}

# Container processes outliving the engine: all live in this instance's cgroup parent; their
# shims are the ones serving its containerd namespace.
kill_leftover_containers() {
  local procs pid cg
  # cgroup v1 (pids hierarchy) or v2.
  procs=$(cat /sys/fs/cgroup/pids/"$namespace"/*/cgroup.procs /sys/fs/cgroup/"$namespace"/*/cgroup.procs 2>/dev/null || true)
  for pid in $(pgrep -f -- "containerd-shim-runc-v2 -namespace $namespace " || true) $procs; do
    kill -KILL "$pid" 2>/dev/null || true
  done
  [[ -n $procs ]] && sleep 0.2
  for cg in /sys/fs/cgroup/*/"$namespace" /sys/fs/cgroup/"$namespace"; do
    [[ -d $cg ]] || continue
    find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
}

# Mounts a killed engine leaves behind (overlays, network namespaces, shm).
unmount_leftovers() {
  local mnt
  awk -v d="$dir/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r | while read -r mnt; do
    umount -l "$mnt" 2>/dev/null || true
  done
}

start() {
  mkdir -p "$dir"
  if engine_answers; then
    say "running (pid $(dockerd_pid || echo '?'))"
    echo "export DOCKER_HOST=unix://$sock"
    return 0
  fi
  ensure_packages
  if pid=$(dockerd_pid); then # alive but not answering: replace it
    say "dockerd $pid does not answer; restarting it"
    stop_engine
  fi
  record_host_state
  [[ -f $dir/daemon.json ]] || echo '{}' >"$dir/daemon.json" # not /etc/docker/daemon.json
  rm -f "$sock"
  local network_flags=(--bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false)
  # Docker's usual networking (docker0, NAT, iptables), for what needs the default bridge.
  # One such instance at a time: they would share docker0.
  [[ ${NP_DOCKER_BRIDGE:-0} == 1 ]] && network_flags=()
  local t0=$EPOCHREALTIME
  # setsid: own session, so the caller's Ctrl-C or process-group kill does not reach it.
  setsid "$dockerd" \
    --host "unix://$sock" \
    --data-root "$dir/data" \
    --exec-root "$dir/exec" \
    --pidfile "$pidfile" \
    --config-file "$dir/daemon.json" \
    --containerd-namespace "$namespace" \
    --containerd-plugins-namespace "$namespace-plugins" \
    --cgroup-parent "$namespace" \
    "${network_flags[@]}" \
    --storage-driver overlay2 \
    --log-level info \
    </dev/null >"$log" 2>&1 9>&- &
  local launched=$!
  for _ in $(seq 1 300); do
    engine_answers && break
    if ! alive "$launched"; then
      tail -20 "$log" >&2
      say "dockerd exited during start (log: $log)"
      restore_host_state
      return 1
    fi
    sleep 0.1
  done
  if ! engine_answers; then
    tail -20 "$log" >&2
    say "dockerd did not answer within 30 s (log: $log)"
    stop_engine
    return 1
  fi
  DOCKER_HOST=unix://$sock "$docker" info --format '{{.ServerVersion}}' >/dev/null
  say "started dockerd $(<"$pidfile") in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.2f", b - a}') s"
  echo "export DOCKER_HOST=unix://$sock"
}

stop_engine() {
  local pid
  if pid=$(dockerd_pid); then
    # Stopping the engine stops its containers (1 s grace each) and its containerd.
    DOCKER_HOST=unix://$sock timeout 20 "$docker" ps -q 2>/dev/null |
      xargs -r env DOCKER_HOST="unix://$sock" timeout 20 "$docker" stop -t 1 >/dev/null 2>&1 || true
    local cpid='' offset
    cpid=$(cat "$dir/exec/containerd/containerd.pid" 2>/dev/null || true)
    offset=$(($(stat -c %s "$log" 2>/dev/null || echo 0) + 1))
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 300); do
      alive "$pid" || break
      # Once its shutdown is complete and containerd has exited, dockerd 20.10 still spends
      # 1-2 s redialling containerd before it exits: nothing is left to save by then.
      if [[ -n $cpid ]] && ! alive "$cpid" &&
        tail -c "+$offset" "$log" 2>/dev/null | grep -q 'Daemon shutdown complete'; then
        kill -KILL "$pid" 2>/dev/null || true
        sleep 0.05
        break
      fi
      sleep 0.05
    done
    if alive "$pid"; then
      say "dockerd $pid did not stop in 15 s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  # A killed dockerd leaves its containerd, shims and containers running.
  local cpid
  cpid=$(cat "$dir/exec/containerd/containerd.pid" 2>/dev/null || true)
  if [[ -n $cpid ]] && alive "$cpid" && [[ $(cat "/proc/$cpid/comm" 2>/dev/null) == containerd ]]; then
    kill -KILL "$cpid" 2>/dev/null || true
  fi
  kill_leftover_containers
  unmount_leftovers
  rm -f "$sock" "$pidfile"
}

stop() {
  [[ -d $dir ]] || return 0
  stop_engine
  restore_host_state
  if [[ ${1:-} == --purge ]]; then
    if awk -v d="$dir/" 'index($2, d) == 1 {f = 1} END {exit !f}' /proc/mounts; then
      say "not purging $dir: something is still mounted under it"
      return 1
    fi
    rm -rf "$dir"
    say "stopped and purged $dir"
  else
    say "stopped"
  fi
}

cmd=${1:-}
case $cmd in
  start | stop | status) ;;
  *)
    echo "usage: $0 start|stop [--purge]|status" >&2
    exit 2
    ;;
esac

# Serialize starts and stops of one instance (test workers may call start together).
mkdir -p "$(dirname "$dir")"
exec 9>"$dir.lock"
flock 9

case $cmd in
  start) start ;;
  stop) stop "${2:-}" ;;
  status)
    if engine_answers; then
      say "running (pid $(dockerd_pid || echo '?'))"
      echo "export DOCKER_HOST=unix://$sock"
    else
      say "not running"
      exit 1
    fi
    ;;
esac
