#!/usr/bin/env bash
# Makes this Debian 12 machine ready for the test suites: Dovecot (IMAP/POP3, run privately
# by server/test/dovecot.ts), Chromium (browser tests), openssl (test certificates),
# docker-compose (deploy.test.ts validates deploy/docker-compose.yml with it, possibly before
# scripts/docker-engine.sh installs the engine) and the machine's PostgreSQL on
# 127.0.0.1:5432. Idempotent and fast when everything is in place.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
packages=(dovecot-imapd dovecot-pop3d chromium openssl docker-compose)

missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]} > 0)); then
  echo "ensure-test-services: installing ${missing[*]}"
  # Keep the package from starting Dovecot's system service (tests run private instances).
  policy=/usr/sbin/policy-rc.d
  created_policy=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
    created_policy=1
  fi
  apt-get update -qq
  status=0
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || status=$?
  if ((created_policy)); then rm -f "$policy"; fi
  if ((status != 0)); then
    echo "ensure-test-services: apt-get install failed ($status)" >&2
    exit "$status"
  fi
fi

# If the system Dovecot runs anyway (started by the package or at boot), stop and disable it:
# it would hold ports 143/110 and is not what the tests talk to.
if [[ -x /usr/sbin/dovecot ]]; then
  if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
    systemctl disable --now dovecot >/dev/null 2>&1 || true
  fi
  if [[ -f /run/dovecot/master.pid ]] && kill -0 "$(cat /run/dovecot/master.pid)" 2>/dev/null; then
    service dovecot stop >/dev/null 2>&1 || true
    if [[ -f /run/dovecot/master.pid ]] && kill -0 "$(cat /run/dovecot/master.pid)" 2>/dev/null; then
      kill "$(cat /run/dovecot/master.pid)" 2>/dev/null || true
    fi
  fi
  if command -v update-rc.d >/dev/null 2>&1; then
    update-rc.d dovecot disable >/dev/null 2>&1 || true
  fi
fi

# The machine's PostgreSQL (module tests create their own databases in it).
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "ensure-test-services: starting PostgreSQL"
  for version in $(ls /etc/postgresql); do
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  done
  for _ in $(seq 1 50); do
    pg_isready -q -h 127.0.0.1 -p 5432 && break
    sleep 0.2
  done
  pg_isready -q -h 127.0.0.1 -p 5432 || {
    echo "ensure-test-services: PostgreSQL did not come up on 127.0.0.1:5432" >&2
    exit 1
  }
fi
