#!/usr/bin/env bash
# Builds Sysmon for Linux's two Debian packages, `sysinternalsebpf` and `sysmonforlinux`, from the
# upstream source archives, OFFLINE and with Debian packages only, into the offline package cache:
#
#   packaging/sysmon/build-debs.sh VENDOR_DIR      (CI: ../shared/vendor)
#
# VENDOR_DIR holds SysinternalsEBPF-5adb11c.tar.gz, SysmonForLinux-6a335d5.tar.gz and
# SysmonCommon-b6010a7.tar.gz; each must match its pin in harness/packages/pins.sha256. The
# packages go to <cache>/sysmon/<key>/ (cache: RECON_HARNESS_PACKAGE_CACHE, default
# /var/cache/recon-harness/packages), where <key> hashes every input (the archives' pins, this
# script, its patches and the T4 host): with the same inputs a second run is a no-op.
# SYSMON_BUILD_TESTS=0 skips upstream's unit tests, SYSMON_BUILD_KEEP=1 keeps the build tree. The build runs in a temporary directory that
# is removed at the end, whatever happens; nothing is installed on the build host.
#
# What differs from upstream's own build, and why (each is also commented in its patch):
#  - libbpf and openssl are Debian's (libbpf-dev, libssl-dev), not clones from GitHub at build time;
#  - manifest.tt is rendered by harness/packages/t4.py under Debian's Mono, not by dotnet-t4;
#  - SysmonForLinux compiles against the SysinternalsEBPF just built (staged in the temporary
#    directory), not against a copy installed in /opt and /usr on the build host;
#  - offsets/offsets.json (the precomputed kernel-offsets database, absent from the snapshot) is
#    an empty database: on a kernel with BTF the library never reads it (CO-RE), and elsewhere it
#    finds no entry and falls back to its own offset auto-discovery (telemetryLoader.c).
set -euo pipefail

here=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
root=$(cd "$here/../.." && pwd)
BUILD_DEPS=(cmake make gcc g++ clang llvm libbpf-dev libssl-dev libelf-dev libjson-glib-dev zlib1g-dev
            libgtest-dev libgmock-dev mono-mcs mono-runtime dpkg-dev patch python3)
SOURCES=(SysinternalsEBPF-5adb11c.tar.gz SysmonForLinux-6a335d5.tar.gz SysmonCommon-b6010a7.tar.gz)
# sysinternalsebpf's version: the lowest that upstream's sysmonforlinux at 6a335d5 accepts (its
# control file says `sysinternalsebpf (>= 1.6.0)`); the Debian version adds the commit.
EBPF_VERSION=1.6.0.0
EBPF_COMMIT=5adb11c
# Sysmon is left at upstream's default version (its events say 0.0.0, as in the shared recording).
SYSMON_VERSION=0.0.0.0
SYSMON_COMMIT=6a335d5

log() { printf '== build-debs: %s\n' "$*" >&2; }
die() { printf 'build-debs: %s\n' "$*" >&2; exit 1; }
py() { PYTHONPATH="$root" python3 "$@"; }

[ $# -eq 1 ] || die "usage: $0 VENDOR_DIR (the directory with the upstream source archives, e.g. ../shared/vendor)"
vendor=$(readlink -f "$1")
out=$(py -m harness.packages.sysmon dir)
if [ -f "$out/BUILDINFO" ]; then
  log "up to date: $out"
  exit 0
fi

missing=()
for p in "${BUILD_DEPS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] || die "missing build dependencies: ${missing[*]} (apt-get install ${missing[*]})"

for f in "${SOURCES[@]}"; do
  [ -f "$vendor/$f" ] || die "$vendor/$f: not found"
  want=$(awk -v n="$f" '$2 == n { print $1 }' "$root/harness/packages/pins.sha256")
  got=$(sha256sum "$vendor/$f" | cut -d' ' -f1)
  [ -n "$want" ] || die "$f: no pin in harness/packages/pins.sha256"
  [ "$want" = "$got" ] || die "$vendor/$f: SHA-256 $got does not match its pin $want; refusing it"
done

tmp=$(mktemp -d /tmp/sysmon-build.XXXXXX)
# SYSMON_BUILD_KEEP=1 keeps the build tree for debugging (its path is printed).
if [ "${SYSMON_BUILD_KEEP:-0}" = 1 ]; then trap 'log "build tree kept: $tmp"' EXIT; else trap 'rm -rf "$tmp"' EXIT; fi
t0=$(date +%s)
make_() { nice -n 10 make -j"$(nproc)" "$@"; }

log "SysinternalsEBPF $EBPF_COMMIT"
tar -xzf "$vendor/SysinternalsEBPF-5adb11c.tar.gz" -C "$tmp"
ebpf_src=$tmp/SysinternalsEBPF ebpf_build=$tmp/build-ebpf
patch -d "$ebpf_src" -p1 --quiet < "$here/patches/sysinternalsebpf-system-libbpf.patch"
[ -e "$ebpf_src/offsets/offsets.json" ] || echo '{}' > "$ebpf_src/offsets/offsets.json"
# libbpf_SOURCE_DIR as the patched CMakeLists expects it: Debian's libbpf-dev headers and licence.
libbpf=$ebpf_build/libbpf/src/libbpf
mkdir -p "$libbpf/src" "$libbpf/include/uapi"
ln -s /usr/include/bpf/* "$libbpf/src/"
ln -s /usr/share/common-licenses/LGPL-2.1 "$libbpf/LICENSE.LGPL-2.1"
(cd "$ebpf_build" && VERSION=$EBPF_VERSION cmake -S "$ebpf_src" -B . -DCMAKE_INSTALL_PREFIX=/usr >/dev/null)
make_ -C "$ebpf_build" >"$tmp/ebpf-make.log" 2>&1 || { tail -40 "$tmp/ebpf-make.log" >&2; die "SysinternalsEBPF build failed"; }
sed -i "s/^Version: .*/&+git$EBPF_COMMIT/" "$ebpf_build/DEBIANcontrol"
make_ -C "$ebpf_build" deb >>"$tmp/ebpf-make.log" 2>&1 || { tail -20 "$tmp/ebpf-make.log" >&2; die "sysinternalsebpf packaging failed"; }
# The staged library SysmonForLinux compiles and links against (upstream's own install rules).
DESTDIR=$tmp/stage cmake --install "$ebpf_build" >/dev/null

log "SysmonForLinux $SYSMON_COMMIT (SysmonCommon b6010a7)"
tar -xzf "$vendor/SysmonForLinux-6a335d5.tar.gz" -C "$tmp"
sysmon_src=$tmp/SysmonForLinux sysmon_build=$tmp/build-sysmon
rmdir "$sysmon_src/sysmonCommon" 2>/dev/null || true
mkdir -p "$sysmon_src/sysmonCommon"
tar -xzf "$vendor/SysmonCommon-b6010a7.tar.gz" -C "$sysmon_src/sysmonCommon" --strip-components=1
patch -d "$sysmon_src" -p1 --quiet < "$here/patches/sysmonforlinux-offline-build.patch"
printf '#!/bin/sh\nexec python3 %q "$@"\n' "$root/harness/packages/t4.py" > "$tmp/t4"
chmod +x "$tmp/t4"
export CPATH=$tmp/stage/usr/include LIBRARY_PATH=$tmp/stage/usr/lib LD_LIBRARY_PATH=$tmp/stage/usr/lib
(mkdir -p "$sysmon_build" && cd "$sysmon_build" && VERSION=$SYSMON_VERSION cmake -S "$sysmon_src" -B . \
  -DTEXTTRANSFORM="$tmp/t4" -DSYSINTERNALSEBPF_DIR="$tmp/stage/opt/sysinternalsEBPF" >/dev/null)
make_ -C "$sysmon_build" sysmon >"$tmp/sysmon-make.log" 2>&1 || { tail -40 "$tmp/sysmon-make.log" >&2; die "SysmonForLinux build failed"; }
sed -i "s/^Version: .*/&+git$SYSMON_COMMIT/" "$sysmon_build/DEBIANcontrol"
make_ -C "$sysmon_build" deb >>"$tmp/sysmon-make.log" 2>&1 || { tail -20 "$tmp/sysmon-make.log" >&2; die "sysmonforlinux packaging failed"; }
t1=$(date +%s)

tests="not run (SYSMON_BUILD_TESTS=0)"
if [ "${SYSMON_BUILD_TESTS:-1}" != 0 ]; then
  log "upstream unit tests"
  make_ -C "$sysmon_build" sysmonUnitTests mysleep yoursleep >"$tmp/tests-make.log" 2>&1 ||
    { tail -40 "$tmp/tests-make.log" >&2; die "upstream unit tests do not build"; }
  # The snapshot lacks UnitTests/data/sysmonconfig-export-omega.xml.bin, which Rules.LoadConfiguration
  # compares every configuration with (its ASSERT stops at the first missing file): that one test is
  # left out; Rules.ProcessEventRules still reads the omega XML itself.
  # FieldSizes.LoadAndRetrieveFieldSizes crashes (SIGSEGV) in upstream's own code: SysmonCommon's
  # LoadVariableFieldSizes (parsecommandline.c) indexes AllEvents[] up to SYSMON_MAX_EVENT_ID, past
  # the array's AllEventsCount entries. It is the FieldSizes option, which the lab's config does not use.
  filter='-Rules.LoadConfiguration:FieldSizes.LoadAndRetrieveFieldSizes'
  (cd "$sysmon_build" && ./sysmonUnitTests --gtest_filter="$filter" >"$tmp/tests.log" 2>&1) ||
    { tail -40 "$tmp/tests.log" >&2; die "upstream unit tests failed"; }
  tests=$(grep -E '^\[  PASSED  \]|^\[  SKIPPED \]' "$tmp/tests.log" | tr '\n' ' ')
  tests="$tests(filter: $filter)"
  log "$tests"
fi

mkdir -p "$(dirname "$out")"
stage_out=$(mktemp -d "$(dirname "$out")/.incoming.XXXXXX")
cp "$ebpf_build"/deb/sysinternalsebpf_*_amd64.deb "$sysmon_build"/deb/sysmonforlinux_*_amd64.deb "$stage_out/"
{
  echo "key $(py -m harness.packages.sysmon key)"
  for f in "${SOURCES[@]}"; do echo "source $f $(sha256sum "$vendor/$f" | cut -d' ' -f1)"; done
  (cd "$stage_out" && sha256sum ./*.deb | sed 's|\./||')
  echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ) in $((t1 - t0))s on $(uname -r)"
  echo "unit tests: $tests"
} > "$stage_out/BUILDINFO"
chmod 755 "$stage_out"
rm -rf "$out"
mv "$stage_out" "$out"
log "packages in $out ($(( $(date +%s) - t0 ))s)"
