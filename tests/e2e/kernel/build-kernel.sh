#!/usr/bin/env bash
# Build the tiny livepatch-capable x86_64 kernel that tests/e2e/kernel/ boots, into a
# cache folder that is reused across runs:
#
#   tests/e2e/kernel/build-kernel.sh             build (or reuse) and print the folder
#   tests/e2e/kernel/build-kernel.sh --print-dir print the folder only (no download, no build)
#
# The kernel is Debian's linux-source-6.1 with `make tinyconfig` plus
# tests/e2e/kernel/livepatch.config, built in its own source folder (an in-tree
# build, so the tree can be copied elsewhere and stays up to date).  It lands in
#   $KLP_REALDATA/kernel-<key>/
#     tree/      the built kernel tree: vmlinux, System.map, Module.symvers,
#                modules.order, arch/x86/boot/bzImage, samples/livepatch/*.ko
#     busybox/   Debian's busybox-static, unpacked (bin/busybox), for the initramfs
#     build.log  the kernel build's output
#     env        KEY='value' lines: TREE VMLINUX SYSTEM_MAP BZIMAGE BUSYBOX KEY
#                SRC_VERSION KERNELRELEASE GCC BUILD_SECONDS JOBS, and the
#                KBUILD_BUILD_{USER,HOST,TIMESTAMP} the tree was built with (a
#                later make with other values recompiles init/ and relinks vmlinux)
#     .done      stamp: the folder is complete
# <key> is the first 16 hex digits of a SHA-256 over the recipe version below,
# the settings of livepatch.config (not its comments), the linux-source-6.1 package
# version and `gcc --version`:
# changing any of them builds a new tree next to the old one.
#
# Settings (environment):
#   KLP_REALDATA        cache root (default $HOME/.cache/klp-realdata); the
#                       .debs are kept in $KLP_REALDATA/debs/, as tests/realdata/fetch.sh does
#   KLP_KERNEL_SRC_DEB  use this linux-source-6.1 .deb instead of the apt candidate
#   JOBS                make -j (default: nproc)
# Needs: an amd64 Debian 12 host, apt-get (download only), and the kernel's build
# tools; bison, flex, libelf-dev, bc, cpio and xz-utils are installed when missing
# (that needs root).  From nothing: ~1 s download, ~15 s unpack, 150-300 s build
# with 2 cores.
set -euo pipefail

RECIPE=1   # bump when this script changes what it builds
HERE=$(cd "$(dirname "$0")" && pwd)
FRAGMENT=$HERE/livepatch.config
KLP_REALDATA=${KLP_REALDATA:-$HOME/.cache/klp-realdata}
DEBS=$KLP_REALDATA/debs
APTCACHE=$KLP_REALDATA/.apt
JOBS=${JOBS:-$(nproc)}
SRC_PKG=linux-source-6.1
APT_OPTS=(-q -o DPkg::Lock::Timeout=600 -o APT::Sandbox::User=root
          -o "Dir::Cache::pkgcache=$APTCACHE/pkgcache.bin"
          -o "Dir::Cache::srcpkgcache=$APTCACHE/srcpkgcache.bin")

die() { echo "build-kernel.sh: $*" >&2; exit 1; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

mode=build
case ${1:-} in
  '') ;;
  --print-dir) mode=print ;;
  -h|--help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
  *) die "unknown argument '$1' (--print-dir or nothing)" ;;
esac
mkdir -p "$DEBS" "$APTCACHE"

# source_deb: the linux-source-6.1 .deb to build (path; may not exist yet) and
# its version, from KLP_KERNEL_SRC_DEB, else apt's candidate, else the newest
# .deb already in $DEBS (no apt index).
source_deb() {
  local ver deb
  if [ -n "${KLP_KERNEL_SRC_DEB:-}" ]; then
    [ -f "$KLP_KERNEL_SRC_DEB" ] || die "KLP_KERNEL_SRC_DEB=$KLP_KERNEL_SRC_DEB: no such file"
    SRC_DEB=$KLP_KERNEL_SRC_DEB
    SRC_VERSION=$(dpkg-deb -f "$SRC_DEB" Version)
    return
  fi
  ver=$(apt-cache "${APT_OPTS[@]}" policy "$SRC_PKG" 2>/dev/null |
        awk '$1 == "Candidate:" { if ($2 != "(none)") print $2; exit }')
  if [ -z "$ver" ]; then
    deb=$(compgen -G "$DEBS/${SRC_PKG}_*_all.deb" | sort -V | tail -1) ||
      die "$SRC_PKG is not in the apt index (apt-get update?) and not in $DEBS"
    SRC_DEB=$deb
    SRC_VERSION=$(dpkg-deb -f "$SRC_DEB" Version)
    return
  fi
  SRC_VERSION=$ver
  SRC_DEB=$DEBS/${SRC_PKG}_${ver#*:}_all.deb
}

source_deb
GCC=$(gcc --version | head -1)
KEY=$( { echo "recipe $RECIPE"; echo "source $SRC_PKG $SRC_VERSION"; echo "gcc $GCC";
         grep -v '^#' "$FRAGMENT"; } | sha256sum | cut -c1-16)
DIR=$KLP_REALDATA/kernel-$KEY
if [ "$mode" = print ]; then echo "$DIR"; exit 0; fi

exec 9>"$KLP_REALDATA/.kernel-$KEY.lock"
flock 9
if [ -f "$DIR/.done" ]; then
  echo "[kernel] cached: $DIR ($SRC_PKG $SRC_VERSION)" >&2
  echo "$DIR"
  exit 0
fi
mkdir -p "$DIR"
tstart=$(now)

# Host tools (gcc, make are assumed); as in the research rig, these were missing on Debian 12.
need=()
for p in bison flex libelf-dev bc cpio xz-utils; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "[kernel] installing ${need[*]}" >&2
  apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=600 "${need[@]}" >&2
fi

# download: apt-get download NAME[=VERSION] into $DEBS (via a private folder:
# other fetchers may be downloading into $DEBS at the same time)
download() {
  local tmp
  tmp=$(mktemp -d "$DEBS/.partial-kernel.XXXXXX")
  ( cd "$tmp" && apt-get "${APT_OPTS[@]}" download "$1" >&2 ) || { rm -rf "$tmp"; die "apt-get download $1 failed"; }
  mv -f "$tmp"/*.deb "$DEBS/"
  rm -rf "$tmp"
}

t0=$(now)
[ -f "$SRC_DEB" ] || download "$SRC_PKG=$SRC_VERSION"
[ -f "$SRC_DEB" ] || die "apt-get download did not produce $SRC_DEB"
bb_deb=$(compgen -G "$DEBS/busybox-static_*_amd64.deb" | sort -V | tail -1) || true
if [ -z "$bb_deb" ]; then
  download busybox-static
  bb_deb=$(compgen -G "$DEBS/busybox-static_*_amd64.deb" | sort -V | tail -1)
fi
echo "[kernel] download $(secs "$t0") s: $(basename "$SRC_DEB") $(basename "$bb_deb")" >&2

t0=$(now)
if [ ! -x "$DIR/busybox/bin/busybox" ]; then
  rm -rf "$DIR/busybox"
  dpkg-deb -x "$bb_deb" "$DIR/busybox"
fi
if [ ! -f "$DIR/tree/Makefile" ]; then
  rm -rf "$DIR/tree" "$DIR/.unpack"
  mkdir -p "$DIR/.unpack"
  dpkg-deb --fsys-tarfile "$SRC_DEB" | tar -x -O "./usr/src/$SRC_PKG.tar.xz" | tar -xJ -C "$DIR/.unpack"
  mv "$DIR/.unpack/$SRC_PKG" "$DIR/tree"
  rm -rf "$DIR/.unpack"
fi
echo "[kernel] unpack $(secs "$t0") s" >&2

cd "$DIR/tree"
# A fixed identity, so that the banner (and symbols.klp) do not depend on who
# built the tree or when.
export KBUILD_BUILD_USER=klp KBUILD_BUILD_HOST=klp-build
export KBUILD_BUILD_TIMESTAMP='Thu Jan  1 00:00:00 UTC 2026'
t0=$(now)
if [ ! -f .config ] || [ ! -f .klp-config-done ]; then
  make -s tinyconfig >/dev/null
  ./scripts/kconfig/merge_config.sh -m .config "$FRAGMENT" >/dev/null
  make -s olddefconfig
  for o in LIVEPATCH KALLSYMS_ALL DYNAMIC_FTRACE_WITH_REGS UNWINDER_ORC SAMPLE_LIVEPATCH \
           MODULES SERIAL_8250_CONSOLE BLK_DEV_INITRD; do
    grep -qE "^CONFIG_$o=[ym]" .config || die "CONFIG_$o is not set after olddefconfig"
  done
  touch .klp-config-done
fi
echo "[kernel] configure $(secs "$t0") s" >&2

t0=$(now)
if ! make -j"$JOBS" >"$DIR/build.log" 2>&1; then
  tail -n 30 "$DIR/build.log" >&2
  die "kernel build failed (log: $DIR/build.log)"
fi
build_s=$(secs "$t0")
echo "[kernel] build -j$JOBS $build_s s" >&2
for f in vmlinux System.map Module.symvers modules.order arch/x86/boot/bzImage \
         samples/livepatch/livepatch-sample.ko; do
  [ -s "$f" ] || die "the build did not produce $f"
done

release=$(make -s kernelrelease)
{
  echo "# written by tests/e2e/kernel/build-kernel.sh"
  printf "TREE='%s'\n" "$DIR/tree"
  printf "VMLINUX='%s'\n" "$DIR/tree/vmlinux"
  printf "SYSTEM_MAP='%s'\n" "$DIR/tree/System.map"
  printf "BZIMAGE='%s'\n" "$DIR/tree/arch/x86/boot/bzImage"
  printf "BUSYBOX='%s'\n" "$DIR/busybox/bin/busybox"
  printf "KEY='%s'\n" "$KEY"
  printf "KBUILD_BUILD_USER='%s'\n" "$KBUILD_BUILD_USER"
  printf "KBUILD_BUILD_HOST='%s'\n" "$KBUILD_BUILD_HOST"
  printf "KBUILD_BUILD_TIMESTAMP='%s'\n" "$KBUILD_BUILD_TIMESTAMP"
  printf "SRC_VERSION='%s'\n" "$SRC_VERSION"
  printf "KERNELRELEASE='%s'\n" "$release"
  printf "GCC='%s'\n" "$GCC"
  printf "BUILD_SECONDS='%s'\n" "$build_s"
  printf "JOBS='%s'\n" "$JOBS"
} >"$DIR/env"
date -u +%FT%TZ >"$DIR/.done"
echo "[kernel] done $(secs "$tstart") s: $DIR" >&2
echo "$DIR"
