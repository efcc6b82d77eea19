#!/bin/sh
# Vagrantfile trigger: create (before `vagrant up`) or remove (after `vagrant destroy`) the lab's
# isolated libvirt network, through the harness (which checks the range against the host first and
# verifies with `virsh net-dumpxml` that the network has no <forward> and no DNS forwarding).
# Usage: libvirt-net.sh up|down [NAME ADDRESS]
set -eu
REPO="$(cd "$(dirname "$0")/.." && pwd)"
[ "${RECON_HARNESS_NET_MODE:-none}" = none ] || { echo "recon-harness: RECON_HARNESS_NET_MODE=${RECON_HARNESS_NET_MODE}: network left to vagrant-libvirt (NOT isolated)"; exit 0; }
[ -n "${2:-}" ] && export RECON_HARNESS_NET_NAME="$2"
[ -n "${3:-}" ] && export RECON_HARNESS_NET_ADDRESS="$3"
PY="$REPO/.venv/bin/python"
[ -x "$PY" ] || PY=python3
case "${1:-}" in
  up) exec env PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" "$PY" -m harness.lab.vagrant network-up ;;
  down) exec env PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" "$PY" -m harness.lab.vagrant network-down ;;
  *) echo "usage: $0 up|down [NAME ADDRESS]" >&2; exit 2 ;;
esac
