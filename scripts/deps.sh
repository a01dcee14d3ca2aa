#!/usr/bin/env bash
# Installs what moat and its tests need on a fresh Debian machine:
# nftables (moat's driver), iproute2 (test namespaces), Debian's iptables
# (the test oracle and benchmark baseline), conntrack, nfct (conntrack
# timeout policies for CT --timeout), nfacct (accounting objects for
# -m nfacct) and iperf3; for the
# ban tests: a real OpenSSH server and sshpass (failed logins), fail2ban
# (its filters, test logs and Python readers are the oracle) and
# systemd-journal-remote (writes journal files for the journal tests);
# man-db (the install test renders moat's manual page); docker.io and
# busybox-static (a real dockerd calling moat's iptables, its containers a
# static busybox httpd), podman with netavark and aardvark-dns, firewalld,
# ufw, shorewall, shorewall6, ferm and containernetworking-plugins (each
# run on moat's iptables; ferm is told not to load its rules at boot).
# apt's and debconf's chatter goes to a log, shown only if apt fails.
set -euo pipefail
packages=(nftables iptables ipset iproute2 conntrack nfct nfacct iperf3 procps openssh-server openssh-client sshpass fail2ban systemd-journal-remote man-db docker.io busybox-static podman netavark aardvark-dns firewalld ufw shorewall shorewall6 ferm containernetworking-plugins)
missing=()
for p in "${packages[@]}"; do
  # A removed package whose configuration stays is not installed.
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  log=$(mktemp /tmp/moat-apt.XXXXXX.log)
  # No service may start on the host while packages install (docker.io's
  # would set up the host's own ruleset): invoke-rc.d asks policy-rc.d.
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  # ferm would load its example rules into the host's ruleset at boot.
  echo "ferm ferm/enable boolean false" | debconf-set-selections
  echo "installing ${missing[*]} with apt (log: $log)..."
  if ! { apt-get update -qq && apt-get install -y -qq "${missing[@]}"; } >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    exit 1
  fi
fi
