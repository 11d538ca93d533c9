#!/usr/bin/env bash
# Builds notifypro/node-base:local without any registry: a minimal root filesystem made of
# this machine's Node.js (the binary and the shared libraries ldd lists), a /bin/sh (dash, so
# Dockerfile RUN lines work), CA certificates, /etc/passwd with the non-root user notifypro
# (uid 10001), /tmp — streamed by tar into `docker import`. Images built FROM it need
# DOCKER_BUILDKIT=0 and `docker run --pull never` (nothing can be pulled here). node as PID 1
# ignores SIGTERM, so `docker stop` waits its full timeout: run with --init (HostConfig.Init,
# compose `init: true`) or handle SIGTERM.
#
#   scripts/docker-base-image.sh [--force]
#
# Cached: skipped when the image exists and was made from the same Node.js version. Uses
# DOCKER_HOST when set, else starts (or reuses) scripts/docker-engine.sh's engine.
set -euo pipefail

image=${NP_BASE_IMAGE:-notifypro/node-base:local}
docker=/usr/bin/docker
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
say() { echo "docker-base-image: $*" >&2; }

if [[ -z ${DOCKER_HOST:-} ]]; then
  eval "$("$here/docker-engine.sh" start)"
fi
export DOCKER_HOST

# Two test workers asking at once build it once.
exec 9>/tmp/np-docker-base-image.lock
flock 9

node_bin=$(readlink -f "$(command -v node)")
node_version=$("$node_bin" --version)
# Bump when the contents below change, so cached images are rebuilt.
recipe=1

if [[ ${1:-} != --force ]]; then
  have=$("$docker" image inspect "$image" \
    --format '{{index .Config.Labels "org.notifypro.node-version"}} {{index .Config.Labels "org.notifypro.recipe"}}' 2>/dev/null || true)
  if [[ $have == "$node_version $recipe" ]]; then
    say "$image is up to date (node $node_version)"
    exit 0
  fi
fi

t0=$EPOCHREALTIME
staging=$(mktemp -d /tmp/np-node-base.XXXXXX)
trap 'rm -rf "$staging"' EXIT

# Host paths to copy, relative to /. Each binary's libraries are added under both the name
# ldd gives (a symlink, possibly through /lib -> usr/lib) and the file it resolves to.
declare -A paths=()
add_path() { # absolute host path
  local p=$1 dir
  dir=$(readlink -f "$(dirname "$p")")
  paths[${dir#/}/$(basename "$p")]=1
  p=$(readlink -f "$p")
  paths[${p#/}]=1
}
for bin in "$node_bin" /usr/bin/dash; do
  add_path "$bin"
  while read -r lib; do
    add_path "$lib"
  done < <(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}')
done
paths[usr/bin/sh]=1 # -> dash
for top in bin sbin lib lib64; do # the merged-/usr symlinks
  [[ -L /$top ]] && paths[$top]=1
done
paths[etc/ssl/certs]=1
[[ -d /usr/share/ca-certificates ]] && paths[usr/share/ca-certificates]=1
[[ -f /etc/ssl/openssl.cnf ]] && paths[etc/ssl/openssl.cnf]=1

# Generated files.
mkdir -p "$staging/etc" "$staging/tmp" "$staging/home/notifypro" "$staging/usr/local/bin"
chmod 1777 "$staging/tmp"
chown 10001:10001 "$staging/home/notifypro"
cat >"$staging/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
notifypro:x:10001:10001:NotifyPro:/home/notifypro:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
EOF
cat >"$staging/etc/group" <<'EOF'
root:x:0:
notifypro:x:10001:
nogroup:x:65534:
EOF
echo 'hosts: files dns' >"$staging/etc/nsswitch.conf"

# One tar stream: host files (as they are, root-owned) then the generated ones.
mapfile -t sorted < <(printf '%s\n' "${!paths[@]}" | sort)
tar --numeric-owner -c -C / "${sorted[@]}" -C "$staging" etc tmp home usr |
  "$docker" import \
    --change 'USER notifypro' \
    --change 'WORKDIR /home/notifypro' \
    --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin HOME=/home/notifypro' \
    --change "LABEL org.notifypro.node-version=$node_version org.notifypro.recipe=$recipe" \
    --change 'CMD ["node"]' \
    --message "node $node_version from $(hostname)" \
    - "$image" >/dev/null

size=$("$docker" image inspect "$image" --format '{{.Size}}')
say "built $image (node $node_version, $((size / 1000000)) MB) in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.2f", b - a}') s"
