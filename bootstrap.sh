#!/usr/bin/env bash
# The two commands of the README, on a fresh Debian 12 machine, as root (prefix sudo if you are not
# root; sudo itself is never needed, so minimal images and containers without it work):
#   ./bootstrap.sh run    set up, then `pytest atomics/` on the embedded lab (the main job)
#   ./bootstrap.sh test   set up, then run the test suite (unit, replay and embedded-lab tests)
#   ./bootstrap.sh setup  only set up (everything the two above need)
# Setup is idempotent: Debian packages (without starting any of their services), then a virtualenv
# in .venv with the harness installed.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"

APT_PACKAGES=(
  python3 python3-venv python3-dev gcc git
  iproute2 nftables procps psmisc kmod
  openssh-server openssh-client dnsmasq-base auditd squid-openssl ulogd2 ulogd2-json
  nmap curl ca-certificates iputils-ping
  chromium
  # Sysmon for Linux from source (packaging/sysmon/build-debs.sh) and its runtime libraries.
  cmake make g++ clang llvm libbpf-dev libssl-dev libelf-dev libjson-glib-dev zlib1g-dev
  libgtest-dev libgmock-dev mono-mcs mono-runtime dpkg-dev patch
)

log() { printf '==> %s\n' "$*" >&2; }

setup() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "bootstrap.sh: run as root (sudo ./bootstrap.sh if you are not root): the embedded lab needs network namespaces and auditd" >&2
    exit 2
  fi
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    # Keep package scripts from starting host services (sshd, squid, auditd): the lab starts its
    # own instances inside network namespaces and stops them afterwards.
    local policy=/usr/sbin/policy-rc.d created_policy=0
    if [ ! -e "$policy" ]; then
      printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod 755 "$policy"; created_policy=1
    fi
    trap '[ "$created_policy" = 1 ] && rm -f "$policy"' RETURN
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  # Reinstall when the metadata or the C accelerators changed (the editable install builds them).
  if [ ! -x .venv/bin/harness ] || [ ! -e .venv/.installed ] ||
     [ -n "$(find pyproject.toml setup.py harness -newer .venv/.installed \( -name '*.c' -o -name pyproject.toml -o -name setup.py \) -print -quit)" ]; then
    log "creating .venv and installing the harness"
    python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check --upgrade pip
    .venv/bin/pip install --quiet --disable-pip-version-check -e '.[dev]'
    touch .venv/.installed
  fi
}

setup_test_tools() {
  # sigma-cli (`sigma check`, used by the detection tests) pins pySigma 1.x while the harness pins
  # 2.x: it gets a venv of its own.
  if [ ! -x .venv-sigma-cli/bin/sigma ]; then
    log "creating .venv-sigma-cli for \`sigma check\`"
    python3 -m venv .venv-sigma-cli
    .venv-sigma-cli/bin/pip install --quiet --disable-pip-version-check "sigma-cli==3.1.0" "pySigma-validators-sigmahq==0.21.0"
  fi
}

case "${1:-}" in
  setup)
    setup
    setup_test_tools
    ;;
  run)
    setup
    shift
    exec .venv/bin/pytest atomics/ "$@"
    ;;
  test)
    setup
    setup_test_tools
    shift
    exec .venv/bin/pytest tests/ "$@"
    ;;
  *)
    echo "usage: ./bootstrap.sh run|test|setup (as root)" >&2
    exit 2
    ;;
esac
