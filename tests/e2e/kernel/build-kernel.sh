#!/usr/bin/env bash
# Build the tiny livepatch-capable kernels that tests/e2e/ boots, into cache
# folders that are reused across runs:
#
#   tests/e2e/kernel/build-kernel.sh [KERNEL...]             build (or reuse), print the folders
#   tests/e2e/kernel/build-kernel.sh --print-dir [KERNEL...] print the folders only
#
# KERNEL is x86_64 (the default), ppc64le, s390x, arm64, x86_64-bpo or x86_64-6.12;
# all but the x86_64 ones are cross-built.  Each kernel is Debian's kernel source
# with `make tinyconfig` plus tests/e2e/kernel/livepatch.config and
# livepatch-<KERNEL>.config (a later fragment's setting of a symbol wins, as in
# merge_config.sh; both x86_64 kernels from 6.9 on take livepatch-x86_64-6.9.config),
# built in its own source folder (an in-tree build, so the tree can be copied
# elsewhere and stays up to date).  The source is Debian 12's linux-source-6.1, but
# for x86_64-6.12, Debian 12's linux-source-6.12 (bookworm-security), and for arm64,
# which can load a livepatch only from 6.17 on, and x86_64-bpo: there it is the
# linux-source-X.Y that trixie-backports' linux-source depends on (apt reads that
# suite through a private index under $KLP_REALDATA/.apt; the system's sources
# are not touched), and livepatch-bpo.config comes between the two fragments.
# It lands in
#   $KLP_REALDATA/kernel-<key>/
#     tree/      the built kernel tree: vmlinux, System.map, Module.symvers,
#                modules.order, the boot image, samples/livepatch/*.ko
#     busybox/   Debian's busybox-static for ARCH, unpacked (bin/busybox), for the initramfs
#     build.log  the kernel build's output
#     env        KEY='value' lines: KERNEL ARCH KARCH CROSS_COMPILE TREE VMLINUX SYSTEM_MAP
#                BOOT_IMAGE BUSYBOX KEY SRC_VERSION KERNELRELEASE GCC BUILD_SECONDS
#                JOBS, and the KBUILD_BUILD_{USER,HOST,TIMESTAMP} the tree was built
#                with (a later make with other values recompiles init/ and relinks vmlinux)
#     .done      stamp: the folder is complete
# <key> is the first 16 hex digits of a SHA-256 over the recipe version below,
# KERNEL, the settings of the fragments (not their comments), the source
# package and its version and the (cross) compiler's `gcc --version`: changing
# any of them builds a new tree next to the old one.
#
# Settings (environment):
#   KLP_REALDATA        cache root (default $HOME/.cache/klp-realdata); the
#                       .debs are kept in $KLP_REALDATA/debs/, as tests/realdata/fetch.sh does
#   KLP_KERNEL_SRC_DEB  use this linux-source-6.1 .deb instead of the apt candidate
#                       (for the kernels built from linux-source-6.1)
#   JOBS                make -j (default: nproc)
# Needs: an amd64 Debian 12 host, apt-get (download only), and the kernel's build
# tools; bison, flex, libelf-dev, bc, cpio, xz-utils and the cross compilers are
# installed when missing, and a foreign architecture is added to dpkg for its
# busybox (that needs root).  From nothing, with 2 cores: ~1 s download,
# ~15 s unpack, then per kernel (docs/kernels.md) x86_64 ~4 min, ppc64le ~9 min,
# s390x ~4 min, arm64, x86_64-bpo and x86_64-6.12 ~5 min.
set -euo pipefail

RECIPE=2   # bump when this script changes what it builds
HERE=$(cd "$(dirname "$0")" && pwd)
KLP_REALDATA=${KLP_REALDATA:-$HOME/.cache/klp-realdata}
DEBS=$KLP_REALDATA/debs
APTCACHE=$KLP_REALDATA/.apt
JOBS=${JOBS:-$(nproc)}
APT_OPTS=(-q -o DPkg::Lock::Timeout=600 -o APT::Sandbox::User=root
          -o "Dir::Cache::pkgcache=$APTCACHE/pkgcache.bin"
          -o "Dir::Cache::srcpkgcache=$APTCACHE/srcpkgcache.bin")

die() { echo "build-kernel.sh: $*" >&2; exit 1; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# arch_table KERNEL: its architecture, the kernel's ARCH, the cross prefix,
# Debian's architecture (for busybox-static), the boot image qemu takes, the
# cross compiler's Debian package, the suite of its source (empty: Debian 12's)
# and the source package (SRC_PKG, linux-source-6.1 unless set); then the config
# fragments.  pseries boots vmlinux itself (its zImage wrapper does not).
arch_table() {
  local bpo=trixie-backports
  SRC_PKG=linux-source-6.1
  case $1 in
    x86_64)  ARCH_NAME=x86_64 KARCH=x86 CROSS= DEBARCH=amd64 IMAGE=arch/x86/boot/bzImage
             CC_PKG=gcc SRC_SUITE= ;;
    x86_64-bpo) ARCH_NAME=x86_64 KARCH=x86 CROSS= DEBARCH=amd64 IMAGE=arch/x86/boot/bzImage
             CC_PKG=gcc SRC_SUITE=$bpo ;;
    x86_64-6.12) ARCH_NAME=x86_64 KARCH=x86 CROSS= DEBARCH=amd64 IMAGE=arch/x86/boot/bzImage
             CC_PKG=gcc SRC_SUITE= SRC_PKG=linux-source-6.12 ;;
    ppc64le) ARCH_NAME=ppc64le KARCH=powerpc CROSS=powerpc64le-linux-gnu- DEBARCH=ppc64el
             IMAGE=vmlinux CC_PKG=gcc-powerpc64le-linux-gnu SRC_SUITE= ;;
    s390x)   ARCH_NAME=s390x KARCH=s390 CROSS=s390x-linux-gnu- DEBARCH=s390x
             IMAGE=arch/s390/boot/bzImage CC_PKG=gcc-s390x-linux-gnu SRC_SUITE= ;;
    arm64)   ARCH_NAME=arm64 KARCH=arm64 CROSS=aarch64-linux-gnu- DEBARCH=arm64
             IMAGE=arch/arm64/boot/Image CC_PKG=gcc-aarch64-linux-gnu SRC_SUITE=$bpo ;;
    *) die "unknown kernel '$1' (x86_64, ppc64le, s390x, arm64, x86_64-bpo or x86_64-6.12)" ;;
  esac
  FRAGMENTS=("$HERE/livepatch.config" ${SRC_SUITE:+"$HERE/livepatch-bpo.config"})
  case $1 in
    x86_64-bpo|x86_64-6.12) FRAGMENTS+=("$HERE/livepatch-x86_64-6.9.config") ;;
    *) FRAGMENTS+=("$HERE/livepatch-$1.config") ;;
  esac
}

mode=build
arches=()
for arg in "$@"; do
  case $arg in
    --print-dir) mode=print ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option '$arg' (--print-dir, then kernels)" ;;
    *) arch_table "$arg"; arches+=("$arg") ;;
  esac
done
[ ${#arches[@]} -gt 0 ] || arches=(x86_64)
mkdir -p "$DEBS" "$APTCACHE"

# suite_index SUITE: SRC_APT_OPTS read Debian's SUITE alone, from an index of
# its own under $APTCACHE/SUITE (updated now; on failure the last one is used)
suite_index() {
  local root=$APTCACHE/$1
  mkdir -p "$root/lists/partial"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg]" \
       "http://deb.debian.org/debian $1 main" >"$root/sources.list"
  SRC_APT_OPTS=("${APT_OPTS[@]}" -o "Dir::Etc::SourceList=$root/sources.list"
                -o Dir::Etc::SourceParts=/nonexistent -o "Dir::State::Lists=$root/lists"
                -o "Dir::Cache::pkgcache=$root/pkgcache.bin"
                -o "Dir::Cache::srcpkgcache=$root/srcpkgcache.bin"
                -o "APT::Architectures::=$(dpkg --print-architecture)")
  apt-get "${SRC_APT_OPTS[@]}" update >&2 ||
    echo "[kernel] apt-get update of $1 failed: using its last index" >&2
}

# source_deb: the source package to build (SRC_PKG), its .deb (SRC_DEB, a path
# that may not exist yet) and version: linux-source-6.1 from KLP_KERNEL_SRC_DEB or
# the system's index, or for a SRC_SUITE the linux-source-X.Y its linux-source
# depends on (remembered in $APTCACHE/SUITE/source for a run without an index);
# with no index, the newest .deb of that package already in $DEBS.
source_deb() {
  local ver deb
  SRC_APT_OPTS=("${APT_OPTS[@]}")
  if [ -n "$SRC_SUITE" ]; then
    suite_index "$SRC_SUITE"
    SRC_PKG=$(apt-cache "${SRC_APT_OPTS[@]}" depends linux-source 2>/dev/null |
              awk '$1 == "Depends:" && $2 ~ /^linux-source-[0-9]/ { print $2; exit }')
    if [ -n "$SRC_PKG" ]; then
      echo "$SRC_PKG" >"$APTCACHE/$SRC_SUITE/source"
    else
      SRC_PKG=$(cat "$APTCACHE/$SRC_SUITE/source" 2>/dev/null) ||
        die "no linux-source in $SRC_SUITE's index, and none remembered"
    fi
  elif [ -n "${KLP_KERNEL_SRC_DEB:-}" ] && [ "$SRC_PKG" = linux-source-6.1 ]; then
    [ -f "$KLP_KERNEL_SRC_DEB" ] || die "KLP_KERNEL_SRC_DEB=$KLP_KERNEL_SRC_DEB: no such file"
    SRC_DEB=$KLP_KERNEL_SRC_DEB
    SRC_VERSION=$(dpkg-deb -f "$SRC_DEB" Version)
    return
  fi
  ver=$(apt-cache "${SRC_APT_OPTS[@]}" policy "$SRC_PKG" 2>/dev/null |
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

# install_missing PKG...: apt-get install the packages that are not installed
install_missing() {
  local need=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || need+=("$p")
  done
  if [ ${#need[@]} -gt 0 ]; then
    echo "[kernel] installing ${need[*]}" >&2
    apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=600 "${need[@]}" >&2
  fi
}

# download NAME[=VERSION] [APT OPTION...]: apt-get download into $DEBS (via a
# private folder: other fetchers may be downloading into $DEBS at the same time)
download() {
  local tmp
  tmp=$(mktemp -d "$DEBS/.partial-kernel.XXXXXX")
  ( cd "$tmp" && apt-get "${@:2}" download "$1" >&2 ) || { rm -rf "$tmp"; die "apt-get download $1 failed"; }
  mv -f "$tmp"/*.deb "$DEBS/"
  rm -rf "$tmp"
}

# busybox_deb: Debian's busybox-static for $DEBARCH, downloaded when missing
# (a foreign architecture is added to dpkg first, as tests/realdata/fetch.sh does)
busybox_deb() {
  local deb
  deb=$(compgen -G "$DEBS/busybox-static_*_$DEBARCH.deb" | sort -V | tail -1) || true
  if [ -z "$deb" ]; then
    if [ "$DEBARCH" != "$(dpkg --print-architecture)" ] &&
       ! dpkg --print-foreign-architectures | grep -qx "$DEBARCH"; then
      dpkg --add-architecture "$DEBARCH"
      apt-get update -qq -o DPkg::Lock::Timeout=600 >&2
    fi
    download "busybox-static:$DEBARCH" "${APT_OPTS[@]}"
    deb=$(compgen -G "$DEBS/busybox-static_*_$DEBARCH.deb" | sort -V | tail -1)
  fi
  echo "$deb"
}

# final_settings FRAGMENT...: each symbol's last setting, "CONFIG_X=v" or
# "# CONFIG_X is not set", in the order the symbols first appear
final_settings() {
  awk '/^CONFIG_[A-Za-z0-9_]+=/ { sym = $0; sub(/=.*/, "", sym) }
       /^# CONFIG_[A-Za-z0-9_]+ is not set$/ { sym = $2 }
       sym != "" { if (!(sym in last)) order[++n] = sym; last[sym] = $0; sym = "" }
       END { for (i = 1; i <= n; i++) print last[order[i]] }' "$@"
}

# kmake ARGS: make for the tree's architecture
kmake() { make ARCH="$KARCH" CROSS_COMPILE="$CROSS" "$@"; }

# build KERNEL: build (or reuse) that kernel; prints its folder
build() {
  local arch=$1 key dir tstart t0 bb_deb build_s release line sym
  arch_table "$arch"
  source_deb
  GCC=$("${CROSS}gcc" --version 2>/dev/null | head -1) || GCC="(no ${CROSS}gcc)"
  key=$( { echo "recipe $RECIPE"; echo "arch $arch"; echo "source $SRC_PKG $SRC_VERSION";
           echo "gcc $GCC"; grep -hv '^#' "${FRAGMENTS[@]}"
           grep -h '^# CONFIG_[A-Za-z0-9_]* is not set$' "${FRAGMENTS[@]}" || true; } |
         sha256sum | cut -c1-16)
  dir=$KLP_REALDATA/kernel-$key
  if [ "$mode" = print ]; then echo "$dir"; return; fi

  exec 9>"$KLP_REALDATA/.kernel-$key.lock"
  flock 9
  if [ -f "$dir/.done" ]; then
    echo "[kernel $arch] cached: $dir ($SRC_PKG $SRC_VERSION)" >&2
    echo "$dir"
    exec 9>&-
    return
  fi
  mkdir -p "$dir"
  tstart=$(now)

  # Host tools (gcc, make are assumed); as in the research rig, these were missing on Debian 12.
  install_missing bison flex libelf-dev bc cpio xz-utils "$CC_PKG"
  GCC=$("${CROSS}gcc" --version | head -1)

  t0=$(now)
  [ -f "$SRC_DEB" ] || download "$SRC_PKG=$SRC_VERSION" "${SRC_APT_OPTS[@]}"
  [ -f "$SRC_DEB" ] || die "apt-get download did not produce $SRC_DEB"
  bb_deb=$(busybox_deb)
  echo "[kernel $arch] download $(secs "$t0") s: $(basename "$SRC_DEB") $(basename "$bb_deb")" >&2

  t0=$(now)
  if [ ! -x "$dir/busybox/bin/busybox" ]; then
    rm -rf "$dir/busybox"
    dpkg-deb -x "$bb_deb" "$dir/busybox"
  fi
  if [ ! -f "$dir/tree/Makefile" ]; then
    rm -rf "$dir/tree" "$dir/.unpack"
    mkdir -p "$dir/.unpack"
    dpkg-deb --fsys-tarfile "$SRC_DEB" | tar -x -O "./usr/src/$SRC_PKG.tar.xz" | tar -xJ -C "$dir/.unpack"
    mv "$dir/.unpack/$SRC_PKG" "$dir/tree"
    rm -rf "$dir/.unpack"
  fi
  echo "[kernel $arch] unpack $(secs "$t0") s" >&2

  # A fixed identity, so that the banner (and symbols.klp) do not depend on who
  # built the tree or when.
  export KBUILD_BUILD_USER=klp KBUILD_BUILD_HOST=klp-build
  export KBUILD_BUILD_TIMESTAMP='Thu Jan  1 00:00:00 UTC 2026'
  t0=$(now)
  (
    cd "$dir/tree"
    if [ ! -f .config ] || [ ! -f .klp-config-done ]; then
      kmake -s tinyconfig >/dev/null
      ./scripts/kconfig/merge_config.sh -m .config "${FRAGMENTS[@]}" >/dev/null
      kmake -s olddefconfig
      # every setting of the fragments (the last one of each symbol) must survive
      # olddefconfig's dependencies
      while read -r line; do
        case $line in
          '# '*) sym=${line#\# }; ! grep -q "^${sym%% *}=" .config ;;
          *) grep -qxF "$line" .config ;;
        esac || die "'$line' (${FRAGMENTS[*]##*/}) is not what .config has after olddefconfig"
      done < <(final_settings "${FRAGMENTS[@]}")
      touch .klp-config-done
    fi
  )
  echo "[kernel $arch] configure $(secs "$t0") s" >&2

  t0=$(now)
  if ! (cd "$dir/tree" && kmake -j"$JOBS" >"$dir/build.log" 2>&1); then
    tail -n 30 "$dir/build.log" >&2
    die "$arch kernel build failed (log: $dir/build.log)"
  fi
  build_s=$(secs "$t0")
  echo "[kernel $arch] build -j$JOBS $build_s s" >&2
  for f in vmlinux System.map Module.symvers modules.order "$IMAGE" \
           samples/livepatch/livepatch-sample.ko fs/binfmt_misc.ko; do
    [ -s "$dir/tree/$f" ] || die "the $arch build did not produce $f"
  done

  release=$(cd "$dir/tree" && kmake -s kernelrelease)
  {
    echo "# written by tests/e2e/kernel/build-kernel.sh"
    printf "KERNEL='%s'\n" "$arch"
    printf "ARCH='%s'\n" "$ARCH_NAME"
    printf "KARCH='%s'\n" "$KARCH"
    printf "CROSS_COMPILE='%s'\n" "$CROSS"
    printf "TREE='%s'\n" "$dir/tree"
    printf "VMLINUX='%s'\n" "$dir/tree/vmlinux"
    printf "SYSTEM_MAP='%s'\n" "$dir/tree/System.map"
    printf "BOOT_IMAGE='%s'\n" "$dir/tree/$IMAGE"
    printf "BUSYBOX='%s'\n" "$dir/busybox/bin/busybox"
    printf "KEY='%s'\n" "$key"
    printf "KBUILD_BUILD_USER='%s'\n" "$KBUILD_BUILD_USER"
    printf "KBUILD_BUILD_HOST='%s'\n" "$KBUILD_BUILD_HOST"
    printf "KBUILD_BUILD_TIMESTAMP='%s'\n" "$KBUILD_BUILD_TIMESTAMP"
    printf "SRC_VERSION='%s'\n" "$SRC_VERSION"
    printf "KERNELRELEASE='%s'\n" "$release"
    printf "GCC='%s'\n" "$GCC"
    printf "BUILD_SECONDS='%s'\n" "$build_s"
    printf "JOBS='%s'\n" "$JOBS"
  } >"$dir/env"
  date -u +%FT%TZ >"$dir/.done"
  echo "[kernel $arch] done $(secs "$tstart") s: $dir" >&2
  echo "$dir"
  exec 9>&-
}

for arch in "${arches[@]}"; do
  build "$arch"
done
