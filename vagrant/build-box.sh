#!/usr/bin/env bash
# Build the recon-harness lab box (Debian 12, libvirt/qcow2) offline from Debian packages and
# add it to Vagrant. Run as root. Idempotent and cached:
#
#   /var/cache/recon-harness/vagrant/          (RECON_HARNESS_VAGRANT_CACHE overrides)
#     recon-lab-<key>.box                       the packaged box (the ONLY thing kept between runs)
#     vagrant.d/                                VAGRANT_HOME used by the harness (box store)
#
# <key> is a hash of this script and the guest files it bakes in: change either and the box is
# rebuilt; otherwise a second run only (re)adds the cached box when Vagrant lacks it.
#
# The VM never has internet in the lab, so everything the atomics and the simulated internet
# need is baked in here, fetched with the host's network by apt (Debian mirror) and by pip (PyPI)
# run in the guest's chroot.
#
# Pitfalls handled (seen on machines like the CI's): loop devices without MBR partition scanning
# (the partition is mounted through a loop device at its offset); update-grub ignores file-backed
# roots (a minimal grub.cfg is written); grub-install needs --modules="part_msdos ext2".
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${RECON_HARNESS_VAGRANT_CACHE:-/var/cache/recon-harness/vagrant}"
BOX_NAME="${RECON_HARNESS_BOX_NAME:-recon-harness/debian12-lab}"
SUITE=bookworm
MIRROR="${RECON_HARNESS_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SHODAN_VERSION=1.31.0
# theHarvester comes from the offline package cache (harness/packages): the pinned upstream release.
PACKAGE_CACHE="${RECON_HARNESS_PACKAGE_CACHE:-/var/cache/recon-harness/packages}"
HARVESTER_VERSION=4.6.0
HARVESTER_ARCHIVE="$PACKAGE_CACHE/theHarvester-$HARVESTER_VERSION.tar.gz"
DISK_SIZE=6G
PACKAGES=(
  linux-image-cloud-amd64 grub-pc-bin initramfs-tools systemd-sysv udev
  openssh-server sudo ca-certificates auditd netbase kmod
  nmap curl dnsmasq-base squid-openssl ulogd2 ulogd2-json nftables iproute2 iputils-ping procps
  python3 python3-venv python3-cryptography openssl rsyslog
)
export VAGRANT_HOME="${VAGRANT_HOME:-$CACHE/vagrant.d}"
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8

log() { printf '[build-box %s] %s\n' "$(date -u +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (debootstrap, loop devices, mount)"

# Build in a private mount namespace: a mount made in the host's namespace is copied into every
# namespace other processes create meanwhile (`ip netns exec`, unshare), which keeps the file
# system alive after our umount and leaves the image unflushed (a corrupt box).
if [ -z "${RECON_HARNESS_BOX_UNSHARED:-}" ]; then
  exec env RECON_HARNESS_BOX_UNSHARED=1 unshare --mount --propagation private bash "${BASH_SOURCE[0]}" "$@"
fi

# Host tools (Debian packages).
need=()
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v qemu-img >/dev/null || need+=(qemu-utils)
[ -d /usr/lib/grub/i386-pc ] || need+=(grub-pc-bin)
command -v grub-install >/dev/null || need+=(grub2-common)
command -v sfdisk >/dev/null || need+=(fdisk)
command -v mkfs.ext4 >/dev/null || need+=(e2fsprogs)
command -v vagrant >/dev/null || need+=(vagrant vagrant-libvirt)
if [ ${#need[@]} -gt 0 ]; then
  log "installing host packages: ${need[*]}"
  apt-get install -y --no-install-recommends "${need[@]}" >/dev/null
fi

# The release is baked in only when the cache has it and it matches a pin, decided by the harness's
# own check (harness.packages.theharvester.cached_release: the project's and the user's pins, any
# gzip of the tag's tar stream), the one CI derives T1590.005-4's expected verdict from.
HARVESTER=""
if found="$(PYTHONPATH="$HERE/.." python3 -m harness.packages.theharvester cached --cache "$PACKAGE_CACHE" 2>&1)"; then
  HARVESTER="$(sha256sum "$HARVESTER_ARCHIVE" | cut -d' ' -f1)"
else
  log "${found#error: }: theHarvester is not baked in (the VM's theHarvester atomic reports PREREQ_MISSING)"
fi

# Sysmon for Linux: the packages packaging/sysmon/build-debs.sh built from upstream source into the
# offline package cache (the build of the current inputs, as harness.packages.sysmon finds it), baked
# in when the cache has them; the VM configures and starts Sysmon at provisioning.
SYSMON_DEBS=()
SYSMON=""
sysmon_dir="$(PYTHONPATH="$HERE/.." python3 -m harness.packages.sysmon dir)"
if [ -f "$sysmon_dir/BUILDINFO" ]; then
  SYSMON_DEBS=("$sysmon_dir"/sysinternalsebpf_*_amd64.deb "$sysmon_dir"/sysmonforlinux_*_amd64.deb)
  SYSMON="$(sha256sum "${SYSMON_DEBS[@]}" | cut -d' ' -f1 | tr '\n' ' ')"
else
  log "Sysmon for Linux packages are not in the cache ($sysmon_dir): not baked in (the VM's Sysmon signals report SENSOR_UNAVAILABLE)"
fi

# Runs in the chroot's Python (3.11 of Debian 12, as the VM runs it), never the host's. pip gets
# only what it needs from the host's environment: its CA bundle (a host may trust a TLS proxy),
# proxies and index. theHarvester's dependencies come from the cache's wheels/ when it has any
# (air-gapped host: --no-index), else PyPI. --use-pep517: the guest's pip 23.0 has no `wheel`
# package for a legacy setup.py build (shodan's sdist); the isolated build environment brings it.
build_wheels() {
  local cert="${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}" v pipenv=()
  install -d "$MNT/opt/recon-harness/wheels" "$MNT/tmp/recon-wheels"
  [ -f "$cert" ] && cp "$cert" "$MNT/tmp/recon-wheels/host-ca.crt" && pipenv+=(PIP_CERT=/tmp/recon-wheels/host-ca.crt)
  for v in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY PIP_INDEX_URL; do
    if [ -n "${!v:-}" ]; then pipenv+=("$v=${!v}"); fi
  done
  gchroot() {
    chroot "$MNT" env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
      LC_ALL=C.UTF-8 PIP_DISABLE_PIP_VERSION_CHECK=1 "${pipenv[@]}" "$@"
  }
  gchroot python3 -m venv /tmp/recon-wheels/venv
  log "building shodan==$SHODAN_VERSION wheels from PyPI with the guest's $(gchroot python3 -V)"
  gchroot /tmp/recon-wheels/venv/bin/pip wheel --quiet --use-pep517 --wheel-dir /opt/recon-harness/wheels "shodan==$SHODAN_VERSION" \
    || die "pip wheel shodan==$SHODAN_VERSION failed in the guest"
  if [ -n "$HARVESTER" ]; then
    local src=()
    cp "$HARVESTER_ARCHIVE" "$MNT/tmp/recon-wheels/"
    if ls "$PACKAGE_CACHE"/wheels/*.whl >/dev/null 2>&1; then
      install -d "$MNT/tmp/recon-wheels/cache"
      cp "$PACKAGE_CACHE"/wheels/*.whl "$MNT/tmp/recon-wheels/cache/"
      src=(--no-index --find-links /tmp/recon-wheels/cache)
    fi
    log "building theHarvester $HARVESTER_VERSION wheels from $HARVESTER_ARCHIVE (dependencies: ${src[*]:-PyPI})"
    gchroot /tmp/recon-wheels/venv/bin/pip wheel --quiet --use-pep517 "${src[@]}" --wheel-dir /opt/recon-harness/wheels \
      "/tmp/recon-wheels/$(basename "$HARVESTER_ARCHIVE")" || die "pip wheel of theHarvester $HARVESTER_VERSION failed in the guest"
  fi
  rm -rf "$MNT/tmp/recon-wheels" "$MNT/root/.cache/pip"
}

KEY="$( { cat "${BASH_SOURCE[0]}"; cat "$HERE"/guest/*; printf '%s\n' "${PACKAGES[@]}" "$SHODAN_VERSION" "$HARVESTER" "$SYSMON"; } \
        | sha256sum | cut -c1-16)"
BOX_FILE="$CACHE/recon-lab-$KEY.box"
mkdir -p "$CACHE" "$VAGRANT_HOME"

box_added() {
  [ -f "$VAGRANT_HOME/boxes/${BOX_NAME//\//-VAGRANTSLASH-}/0/libvirt/recon-harness-key" ] &&
    [ "$(cat "$VAGRANT_HOME/boxes/${BOX_NAME//\//-VAGRANTSLASH-}/0/libvirt/recon-harness-key")" = "$KEY" ]
}

if [ -f "$BOX_FILE" ] && box_added; then
  log "box $BOX_NAME ($KEY) is cached and added: nothing to do"
  echo "$BOX_FILE"
  exit 0
fi

if [ ! -f "$BOX_FILE" ]; then
  t0=$(date +%s)
  WORK="$(mktemp -d "$CACHE/build.XXXXXX")"
  LOOP_PART="" LOOP_DISK="" MNT="$WORK/mnt"
  cleanup() {
    set +e
    for m in dev/pts dev proc sys run; do mountpoint -q "$MNT/$m" && umount -l "$MNT/$m"; done
    mountpoint -q "$MNT" && umount "$MNT"
    [ -n "$LOOP_PART" ] && losetup -d "$LOOP_PART"
    [ -n "$LOOP_DISK" ] && losetup -d "$LOOP_DISK"
    rm -rf "$WORK"
  }
  trap cleanup EXIT

  # Disk: one MBR partition at 1 MiB, mounted through a loop device at its offset.
  log "creating disk ($DISK_SIZE) and root filesystem"
  truncate -s "$DISK_SIZE" "$WORK/disk.raw"
  echo 'start=2048, type=83, bootable' | sfdisk -q "$WORK/disk.raw"
  LOOP_PART="$(losetup --find --show --offset $((2048 * 512)) "$WORK/disk.raw")"
  mkfs.ext4 -q -L recon-root "$LOOP_PART"
  ROOT_UUID="$(blkid -s UUID -o value "$LOOP_PART")"
  mkdir -p "$MNT"
  mount "$LOOP_PART" "$MNT"

  # debootstrap resolves --include dependencies poorly (virtual packages): a minimal base first,
  # then apt inside the chroot (the host's apt machinery fetching from the same Debian mirror).
  log "debootstrap $SUITE (minbase)"
  debootstrap --variant=minbase "$SUITE" "$MNT" "$MIRROR" > "$WORK/debootstrap.log" 2>&1 ||
    { tail -30 "$WORK/debootstrap.log" >&2; tail -30 "$MNT/debootstrap/debootstrap.log" >&2 || true;
      die "debootstrap failed"; }

  for m in dev dev/pts proc sys run; do mkdir -p "$MNT/$m"; mount --bind "/$m" "$MNT/$m"; done
  # Never start a service from the chroot (it would run on the HOST's kernel: auditd, squid...).
  printf '#!/bin/sh\nexit 101\n' > "$MNT/usr/sbin/policy-rc.d"
  chmod +x "$MNT/usr/sbin/policy-rc.d"
  echo "deb $MIRROR $SUITE main" > "$MNT/etc/apt/sources.list"
  log "apt-get install in the guest (${#PACKAGES[@]} packages)"
  chroot "$MNT" apt-get update -q > "$WORK/apt.log" 2>&1 || { tail -20 "$WORK/apt.log" >&2; die "apt-get update failed"; }
  chroot "$MNT" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "${PACKAGES[@]}" >> "$WORK/apt.log" 2>&1 || { tail -40 "$WORK/apt.log" >&2; die "apt-get install failed"; }

  # The Shodan CLI and theHarvester as wheels, resolved and built by the GUEST's own Python (in the
  # chroot, with the host's network): the host's Python may be another patch release, and a
  # dependency's Requires-Python (soupsieve: >=3.11.5) or ABI is decided by the exact interpreter.
  # The guest installs them offline in configure-guest.sh.
  build_wheels

  if [ ${#SYSMON_DEBS[@]} -gt 0 ]; then
    log "installing Sysmon for Linux's packages in the guest (${SYSMON_DEBS[*]##*/})"
    install -d "$MNT/tmp/recon-sysmon"
    cp "${SYSMON_DEBS[@]}" "$MNT/tmp/recon-sysmon/"
    chroot "$MNT" sh -c 'DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends /tmp/recon-sysmon/*.deb' \
      >> "$WORK/apt.log" 2>&1 || { tail -40 "$WORK/apt.log" >&2; die "installing the Sysmon packages in the guest failed"; }
    rm -rf "$MNT/tmp/recon-sysmon"
  fi

  log "configuring the guest"
  cp "$HERE"/guest/* "$MNT/opt/recon-harness/"
  VAGRANT_KEYS="$(find /usr/share /usr/lib /opt -path '*vagrant*/keys/vagrant.pub*' -type f 2>/dev/null | head -n 2)"
  [ -n "$VAGRANT_KEYS" ] || die "Vagrant's insecure public key not found (is vagrant installed?)"
  # shellcheck disable=SC2086
  cat $VAGRANT_KEYS > "$MNT/opt/recon-harness/vagrant-insecure.pub"
  echo "UUID=$ROOT_UUID / ext4 errors=remount-ro 0 1" > "$MNT/etc/fstab"
  # A clean environment: the host's PIP_*/proxy variables must not leak into the guest's setup.
  chroot "$MNT" env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
    LC_ALL=C.UTF-8 /bin/bash /opt/recon-harness/configure-guest.sh
  rm -f "$MNT/opt/recon-harness/vagrant-insecure.pub" "$MNT/usr/sbin/policy-rc.d"

  # Boot loader: a minimal grub.cfg (update-grub skips file-backed roots).
  install -d "$MNT/boot/grub"
  cat > "$MNT/boot/grub/grub.cfg" <<EOF
set timeout=0
set default=0
insmod part_msdos
insmod ext2
search --no-floppy --fs-uuid --set=root $ROOT_UUID
menuentry 'Debian GNU/Linux 12 (recon-harness lab)' {
  linux /vmlinuz root=UUID=$ROOT_UUID ro console=ttyS0,115200n8 net.ifnames=0 quiet
  initrd /initrd.img
}
EOF
  LOOP_DISK="$(losetup --find --show "$WORK/disk.raw")"
  grub-install --target=i386-pc --boot-directory="$MNT/boot" --modules="part_msdos ext2" "$LOOP_DISK" \
    > "$WORK/grub.log" 2>&1 || { cat "$WORK/grub.log" >&2; die "grub-install failed"; }

  for m in dev/pts dev proc sys run; do umount "$MNT/$m" || umount -l "$MNT/$m"; done
  umount "$MNT"
  losetup -d "$LOOP_DISK"; LOOP_DISK=""
  sync
  # The image must be a clean file system before it is packaged.
  e2fsck -fn "$LOOP_PART" > "$WORK/fsck.log" 2>&1 || { cat "$WORK/fsck.log" >&2; die "the root file system is not clean"; }
  losetup -d "$LOOP_PART"; LOOP_PART=""

  log "converting to qcow2 and packaging"
  install -d "$WORK/box"
  qemu-img convert -c -O qcow2 "$WORK/disk.raw" "$WORK/box/box.img"
  rm -f "$WORK/disk.raw"
  cat > "$WORK/box/metadata.json" <<EOF
{"provider": "libvirt", "format": "qcow2", "virtual_size": ${DISK_SIZE%G}}
EOF
  # The box's Vagrantfile sets nothing that vagrant-libvirt 0.11.2 mishandles (e.g. lv.serial):
  # the project's Vagrantfile carries the domain settings.
  cat > "$WORK/box/Vagrantfile" <<'EOF'
Vagrant.configure("2") do |config|
  config.vm.provider :libvirt do |lv|
    lv.driver = "qemu"
    lv.cpu_mode = "custom"
    lv.cpu_model = "qemu64"
  end
end
EOF
  echo "$KEY" > "$WORK/box/recon-harness-key"
  tar -C "$WORK/box" -cf "$BOX_FILE.tmp" metadata.json Vagrantfile box.img recon-harness-key
  mv "$BOX_FILE.tmp" "$BOX_FILE"
  # Older boxes of this name in the cache are superseded.
  find "$CACHE" -maxdepth 1 -name 'recon-lab-*.box' ! -name "recon-lab-$KEY.box" -delete
  trap - EXIT
  cleanup
  log "built $BOX_FILE in $(( $(date +%s) - t0 ))s ($(du -h "$BOX_FILE" | cut -f1))"
fi

log "adding box $BOX_NAME to Vagrant (VAGRANT_HOME=$VAGRANT_HOME)"
vagrant box add --force --name "$BOX_NAME" --provider libvirt "$BOX_FILE" >/dev/null
box_added || die "box added but its key file is missing"
echo "$BOX_FILE"
