#!/usr/bin/env bash
# Fetch Debian 12 kernel packages into a cache outside the repo, for the
# real-corpus tests, the benchmarks and the qemu end-to-end tests.
#
#   tests/realdata/fetch.sh SET...      SET: cloud-amd64 amd64 arm64 ppc64el s390x amd64-xz all
#
# Nothing is installed: packages are fetched with `apt-get download` and
# unpacked with `dpkg-deb`.  Each set ends up in $KLP_REALDATA/<set>/:
#   root/   the unpacked packages (lib/modules/<kver>, boot/, usr/src/linux-headers-*, ...)
#   env     shell variables for the tests (KVER VMLINUX SYSTEM_MAP MODULES_DIR DEBUG_MODULES_DIR KDIR
#           BUSYBOX VMLINUZ CONFIG, plus ARCH KARCH CROSS_COMPILE ABI VERSION ...);
#           tests/realdata/paths.py parses it
#   kver    the kernel release, e.g. 6.1.0-56-cloud-amd64
#   .done   stamp: the exact packages and versions; when present the set is skipped
# A set is unpacked into a temporary folder and renamed into place, so an
# interrupted run never leaves a half set.  Downloaded .debs stay in
# $KLP_REALDATA/debs/ and are reused.
#
# Settings (environment):
#   KLP_REALDATA  cache root (default $HOME/.cache/klp-realdata)
#   KABI          kernel ABI for the 6.1 sets, e.g. 6.1.0-50 (a full kernel release
#                 such as 6.1.0-50-cloud-amd64 is accepted too); default: what the
#                 flavour's meta package depends on
#   XZ_KABI       ABI for amd64-xz, e.g. 6.12.117+deb12 (default: newest 6.12)
#   XZ_FLAVOUR    force the amd64-xz flavour (amd64 or cloud-amd64; default: the
#                 smaller one that ships .ko.xz)
#   ARM64_FLAVOUR force the arm64 flavour (arm64 or cloud-arm64; default: the smaller)
#   REFRESH=1     re-resolve sets that are already done; rebuild them if the
#                 packages changed
#   VERBOSE=1     show apt/dpkg output (default: it goes to $KLP_REALDATA/log/<set>.log)
# Needs root for `dpkg --add-architecture` + `apt-get update` (foreign sets only).
set -euo pipefail

KLP_REALDATA=${KLP_REALDATA:-$HOME/.cache/klp-realdata}
KABI=${KABI:-}
XZ_KABI=${XZ_KABI:-}
XZ_FLAVOUR=${XZ_FLAVOUR:-}
ARM64_FLAVOUR=${ARM64_FLAVOUR:-}
REFRESH=${REFRESH:-0}
VERBOSE=${VERBOSE:-0}
APT_LOCK_TIMEOUT=${APT_LOCK_TIMEOUT:-600}
DEBS=$KLP_REALDATA/debs
LOGDIR=$KLP_REALDATA/log
APTCACHE=$KLP_REALDATA/.apt
NATIVE=$(dpkg --print-architecture)
ALL_SETS="cloud-amd64 arm64 ppc64el s390x amd64-xz amd64"
FOREIGN_ARCHES="arm64 ppc64el s390x"
APT_OPTS=(-o "DPkg::Lock::Timeout=$APT_LOCK_TIMEOUT" -o APT::Sandbox::User=root -q)

declare -A MAIN_FLAVOUR=([amd64]=amd64 [arm64]=arm64 [ppc64el]=powerpc64le [s390x]=s390x)
declare -A KARCH=([amd64]=x86 [arm64]=arm64 [ppc64el]=powerpc [s390x]=s390)
declare -A CROSS=([amd64]=x86_64-linux-gnu- [arm64]=aarch64-linux-gnu-
                  [ppc64el]=powerpc64le-linux-gnu- [s390x]=s390x-linux-gnu-)

# ---------------------------------------------------------------- helpers
SET=-          # current set, for messages
LOG=/dev/null  # current log file

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }
die() { echo "fetch.sh [$SET] error: $*" >&2; exit 1; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
mb() { awk -v n="$1" 'BEGIN { printf "%.1f MB", n / 1e6 }'; }
# step LABEL T0 [DETAIL]: the one line printed per step
step() { printf '[%s] %-9s %6ss  %s\n' "$SET" "$1" "$(secs "$2")" "${3:-}"; }

# run CMD...: output to the set's log (or the terminal with VERBOSE=1)
run() {
  if [ "$VERBOSE" = 1 ]; then "$@"; return; fi
  if ! "$@" >>"$LOG" 2>&1; then
    echo "fetch.sh [$SET] failed: $*  (last lines of $LOG:)" >&2
    tail -n 15 "$LOG" >&2
    return 1
  fi
}

# acache ARGS: apt-cache with a private binary cache (the docker image sets
# Dir::Cache::pkgcache "", which makes every call re-parse all indices)
CACHE_OPTS=(-o "Dir::Cache::pkgcache=$APTCACHE/pkgcache.bin"
            -o "Dir::Cache::srcpkgcache=$APTCACHE/srcpkgcache.bin")
acache() { apt-cache "${CACHE_OPTS[@]}" "$@"; }
# candidate NAME[:ARCH]: the version apt would pick, empty if unknown
candidate() {
  acache policy "$1" 2>/dev/null | awk '$1 == "Candidate:" { if ($2 != "(none)") print $2; exit }'
}
# apt_show SPEC FIELD: FIELD of SPEC (name[:arch][=version]; no version = the
# candidate), empty if unknown.  `apt-cache show --no-all-versions` and
# `apt-cache depends` take ~1 s each here (they build a depcache over four
# architectures), so select the record from plain `show` output instead; the
# records are memoised in files for this run (callers run in subshells).
apt_show() {
  local memo=$APTCACHE/show.$$/$1 name=${1%%=*} ver=''
  if [ ! -f "$memo" ]; then
    [[ $1 != *=* ]] || ver=${1#*=}
    [ -n "$ver" ] || ver=$(candidate "$name")
    mkdir -p "$APTCACHE/show.$$"
    if [ -n "$ver" ]; then
      acache show "$name" 2>/dev/null |
        awk -v want="Version: $ver" 'BEGIN { RS = "" }
          { n = split($0, l, "\n"); for (i = 1; i <= n; i++) if (l[i] == want) { print; exit } }'
    fi >"$memo.tmp"
    mv "$memo.tmp" "$memo"
  fi
  awk -v f="$2:" '$1 == f { print $2; exit }' "$memo"
}
# pkg_exists SPEC: the index has SPEC
pkg_exists() { [ -n "$(apt_show "$1" Version)" ]; }
# meta_abis FLAVOUR ARCH: the ABIs (e.g. 6.1.0-56) that any version of the meta
# package linux-image-FLAVOUR depends on, newest first
meta_abis() {
  acache show "linux-image-$1:$2" 2>/dev/null |
    sed -n "s/^Depends:.*linux-image-\([0-9][^ ,:]*\)-$1[ ,:].*/\1/p" | sort -Vru
}
# meta_abi FLAVOUR ARCH: the ABI that the candidate meta package depends on
meta_abi() {
  local dep
  dep=$(apt_show "linux-image-$1:$2" Depends)
  sed -n "s/^linux-image-\([0-9][^ ,:]*\)-$1\$/\1/p" <<<"$dep"
}
size_of() { apt_show "$1" Size; }

# add_arch ARCH: dpkg --add-architecture, waiting while another dpkg holds its lock
add_arch() {
  local waited=0
  until dpkg --add-architecture "$1" 2>>"$LOG"; do
    [ "$waited" -lt "$APT_LOCK_TIMEOUT" ] || die "dpkg --add-architecture $1 failed (see $LOG)"
    sleep 5; waited=$((waited + 5))
  done
}

# ensure_foreign: foreign architectures known to dpkg and apt (one update only)
FOREIGN_READY=0
ensure_foreign() {
  [ "$FOREIGN_READY" = 1 ] && return 0
  local a have missing=0 t0
  have=$(dpkg --print-foreign-architectures)
  for a in $FOREIGN_ARCHES; do
    if ! grep -qx "$a" <<<"$have"; then
      add_arch "$a"; missing=1
    elif ! pkg_exists "linux-image-${MAIN_FLAVOUR[$a]}:$a"; then
      missing=1
    fi
  done
  if [ "$missing" = 1 ]; then
    t0=$(now)
    # A half-synced mirror can fail one index ("File has unexpected size ...
    # Mirror sync in progress?") and apt then drops the whole suite's new
    # indices.  Do not stop: resolve_foreign falls back to an ABI that all
    # four architectures have.
    local rc=0 why
    apt-get "${APT_OPTS[@]}" update >>"$LOG" 2>&1 || rc=$?
    rm -rf "$APTCACHE/show.$$"
    why=$(grep -m1 -o 'Failed to fetch [^ ]*' "$LOG" || true)
    step apt-update "$t0" "$([ "$rc" = 0 ] && echo ok || echo "rc $rc, continuing with the indices that loaded: ${why:-see $LOG}")"
  fi
  FOREIGN_READY=1
}

# strip_flavour ABI: accept KABI as 6.1.0-50 or 6.1.0-50-<flavour>[-unsigned]
strip_flavour() {
  local abi=${1%-unsigned} fl
  for fl in cloud-amd64 cloud-arm64 amd64 arm64 powerpc64le s390x; do abi=${abi%-"$fl"}; done
  echo "$abi"
}

# ---------------------------------------------------------------- resolution
# Each resolve_* fills these globals (PKGS entries are name[:arch]=version):
ARCH='' FLAVOUR='' ABI='' KVER='' VERSION=''
PKGS=()

# add_pkg NAME ARCH|all VERSION: append, or fail if the index lacks it
add_pkg() {
  local spec=$1
  [ "$2" = all ] || spec="$1:$2"
  pkg_exists "$spec=$3" || return 1
  PKGS+=("$spec=$3")
}

# add_pkg_min NAME ARCH VERSION: VERSION if the index has it, else the candidate
# if it is newer (linux-kbuild-* can be ahead of the images: headers depend on
# "linux-kbuild-6.1 (>= 6.1.192-2)" and the index may only have 6.1.192-3)
add_pkg_min() {
  add_pkg "$@" && return 0
  local cand
  cand=$(apt_show "$1:$2" Version)
  [ -n "$cand" ] && dpkg --compare-versions "$cand" ge "$3" && add_pkg "$1" "$2" "$cand"
}

# try_abi ARCH FLAVOUR ABI IMAGE_SUFFIX HEADERS(0/1) EXTRA...: set the globals for
# one ABI; returns 1 if a package is missing for it.
try_abi() {
  local arch=$1 fl=$2 abi=$3 suffix=$4 headers=$5 img series
  shift 5
  img=linux-image-$abi-$fl$suffix
  VERSION=$(apt_show "$img:$arch" Version)
  [ -n "$VERSION" ] || return 1
  # shellcheck disable=SC2034  # FLAVOUR is read through ${!k} in write_env
  ARCH=$arch FLAVOUR=$fl ABI=$abi KVER=$abi-$fl PKGS=()
  add_pkg "$img" "$arch" "$VERSION" || return 1
  if [ "$headers" = 1 ]; then
    series=$(cut -d. -f1,2 <<<"$abi")
    add_pkg "linux-headers-$KVER" "$arch" "$VERSION" || return 1
    add_pkg "linux-headers-$abi-common" all "$VERSION" || return 1
    # kbuild's helper programs run on the build host: always the native one
    # (one package per ABI in the 6.12 backport, per series up to 6.1; the ABI's
    # first: apt reads a missing name with dots as a pattern, which 6.12 matches)
    add_pkg_min "linux-kbuild-$abi" "$NATIVE" "$VERSION" ||
      add_pkg_min "linux-kbuild-$series" "$NATIVE" "$VERSION" || return 1
  fi
  local extra
  for extra in "$@"; do
    case $extra in
      dbg) add_pkg "linux-image-$KVER-dbg" "$arch" "$VERSION" || return 1 ;;
      busybox) PKGS+=("busybox-static:$NATIVE=$(apt_show "busybox-static:$NATIVE" Version)") ;;
    esac
  done
}

# resolve_amd64 FLAVOUR HEADERS EXTRA...: native 6.1 sets
resolve_amd64() {
  local fl=$1 abi
  shift
  if [ -n "$KABI" ]; then
    abi=$(strip_flavour "$KABI")
  else
    # the candidate's dependency (not merely the newest ABI in some index)
    abi=$(meta_abi "$fl" amd64)
  fi
  [ -n "$abi" ] || die "cannot resolve the ABI of linux-image-$fl"
  try_abi amd64 "$fl" "$abi" -unsigned "$@" || die "packages for $abi-$fl are missing from the apt index"
}

# resolve_foreign ARCH: image + headers; the ABI is the newest one that the meta
# packages of all four architectures know and whose packages this arch has.
resolve_foreign() {
  local arch=$1 fl suffix='' cands a abi newest native
  ensure_foreign
  if [ -n "$KABI" ]; then
    cands=$(strip_flavour "$KABI")
  else
    cands=$(meta_abis "${MAIN_FLAVOUR[amd64]}" amd64)
    for a in $FOREIGN_ARCHES; do
      cands=$(comm -12 <(sort <<<"$cands") <(meta_abis "${MAIN_FLAVOUR[$a]}" "$a" | sort))
    done
    cands=$(sort -Vr <<<"$cands")
  fi
  [ -n "$cands" ] || die "no kernel ABI common to amd64 $FOREIGN_ARCHES in the apt index"
  for abi in $cands; do
    fl=${MAIN_FLAVOUR[$arch]}
    suffix=
    if [ "$arch" = arm64 ]; then
      suffix=-unsigned
      fl=$(pick_arm64_flavour "$abi")
    fi
    if try_abi "$arch" "$fl" "$abi" "$suffix" 1; then
      newest=$(meta_abi "${MAIN_FLAVOUR[$arch]}" "$arch")
      native=$(meta_abi amd64 amd64)
      if [ -z "$KABI" ] && { [ "$abi" != "$newest" ] || [ "$abi" != "$native" ]; }; then
        echo "[$SET] note: using $abi, the newest ABI that amd64 $FOREIGN_ARCHES all have" \
             "(meta packages: $arch ${newest:-?}, amd64 ${native:-?})"
      fi
      return 0
    fi
  done
  die "no ABI among: $(tr '\n' ' ' <<<"$cands")has all packages for $arch"
}

pick_arm64_flavour() {
  local abi=$1 s_cloud s_main
  if [ -n "$ARM64_FLAVOUR" ]; then echo "$ARM64_FLAVOUR"; return; fi
  s_cloud=$(size_of "linux-image-$abi-cloud-arm64-unsigned:arm64")
  s_main=$(size_of "linux-image-$abi-arm64-unsigned:arm64")
  if [ -n "$s_cloud" ] && pkg_exists "linux-headers-$abi-cloud-arm64:arm64" &&
     { [ -z "$s_main" ] || [ "$s_cloud" -lt "$s_main" ]; }; then
    echo cloud-arm64
  else
    echo arm64
  fi
}

# resolve_xz: Debian 12's 6.12 backport; the smaller flavour that ships .ko.xz
resolve_xz() {
  local abi=$XZ_KABI fl cloud main deb n
  if [ -z "$abi" ]; then
    abi=$(apt_show linux-image-6.12-amd64-dbg:amd64 Depends |
          sed -n 's/^linux-image-\(6\.12\.[^ ]*\)-amd64-dbg$/\1/p')
  fi
  if [ -z "$abi" ]; then
    abi=$(acache pkgnames linux-image-6.12. | sed -n 's/^linux-image-\(6\.12\.[^-]*\)-amd64-unsigned$/\1/p' |
          sort -V | tail -1)
  fi
  [ -n "$abi" ] || die "no 6.12 amd64 kernel in the apt index (bookworm-security)"
  abi=$(strip_flavour "$abi")
  fl=$XZ_FLAVOUR
  if [ -z "$fl" ]; then
    fl=amd64
    cloud=$(size_of "linux-image-$abi-cloud-amd64-unsigned:amd64")
    main=$(size_of "linux-image-$abi-amd64-unsigned:amd64")
    if [ -n "$cloud" ] && [ -n "$main" ] && [ "$cloud" -lt "$main" ]; then
      # only the .deb tells whether its modules are .ko.xz
      try_abi amd64 cloud-amd64 "$abi" -unsigned 0 || die "cannot resolve $abi-cloud-amd64"
      download
      deb=$DEBS/$(deb_name "${PKGS[0]}")
      # (count, not grep -q: an early exit would fail the pipe under pipefail)
      n=$(dpkg-deb -c "$deb" | grep -c '\.ko\.xz$' || true)
      if [ "$n" -gt 0 ]; then fl="cloud-amd64"; fi
    fi
  fi
  # headers, -dbg vmlinux and busybox too: the e2e tests boot this kernel (debian-6.12)
  try_abi amd64 "$fl" "$abi" -unsigned 1 dbg busybox || die "cannot resolve $abi-$fl"
}

# ---------------------------------------------------------------- download
# deb_name SPEC: the cache file name (the pool file name, without epoch)
deb_name() { basename "$(apt_show "$1" Filename)"; }

DL_BYTES=0 DL_NEW=0
download() {
  local spec name size missing=() tmp f n
  DL_BYTES=0 DL_NEW=0
  for spec in "${PKGS[@]}"; do
    name=$(deb_name "$spec"); size=$(size_of "$spec")
    [ -n "$name" ] && [ -n "$size" ] || die "no Filename/Size for $spec"
    DL_BYTES=$((DL_BYTES + size))
    if [ -f "$DEBS/$name" ] && [ "$(stat -c %s "$DEBS/$name")" = "$size" ]; then continue; fi
    missing+=("$spec")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  tmp=$(mktemp -d "$DEBS/.partial-$SET.XXXXXX")
  ( cd "$tmp" && run apt-get "${APT_OPTS[@]}" "${CACHE_OPTS[@]}" download "${missing[@]}" ) || { rm -rf "$tmp"; die "download failed"; }
  for spec in "${missing[@]}"; do
    n=${spec%%[:=]*}
    f=$(compgen -G "$tmp/${n}_*.deb" | head -1) || true
    [ -n "$f" ] || { rm -rf "$tmp"; die "apt-get download did not produce $n"; }
    mv -f "$f" "$DEBS/$(deb_name "$spec")"
    DL_NEW=$((DL_NEW + 1))
  done
  rm -rf "$tmp"
}

# ---------------------------------------------------------------- unpack
# extract_dbg_boot DEB DEST: only usr/lib/debug/boot/* (vmlinux and System.map;
# the config is in the image package) and the debug copies of DEBUG_MODULES
# (what `klp symdb build --debug-modules` reads).  Name them exactly and let tar
# stop at the last one (--occurrence) instead of xz-decoding the whole multi-GB
# stream; if a name is missing, fall back to a full pass for the boot files.
#: modules whose debug copies a set keeps, relative to lib/modules/<release>
DEBUG_MODULES="kernel/fs/binfmt_misc.ko"
#: what a set holds besides its packages: a set made by an older recipe is made again
#: (2: amd64-xz has the headers, -dbg and busybox the e2e tests boot it with)
RECIPE="2; debug modules: $DEBUG_MODULES"
extract_dbg_boot() {
  local deb=$1 dest=$2 b=./usr/lib/debug/boot rc m
  local names=("$b/vmlinux-$KVER" "$b/System.map-$KVER")
  for m in $DEBUG_MODULES; do names+=("./usr/lib/debug/lib/modules/$KVER/$m"); done
  set +e
  dpkg-deb --fsys-tarfile "$deb" 2>/dev/null | tar -x -C "$dest" --occurrence=1 "${names[@]}" 2>>"$LOG"
  rc=${PIPESTATUS[1]}
  set -e
  if [ "$rc" = 0 ] && [ -s "$dest/$b/vmlinux-$KVER" ]; then return 0; fi
  echo "dbg: fast path failed (tar rc $rc), extracting $b/* with a full pass" >>"$LOG"
  dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$dest" --wildcards "$b/*"
}

unpack() {
  local root=$1 spec name deb pids=() p rc=0
  mkdir -p "$root"
  for spec in "${PKGS[@]}"; do
    name=${spec%%[:=]*}; deb=$DEBS/$(deb_name "$spec")
    case $name in
      *-dbg) run extract_dbg_boot "$deb" "$root" & pids+=($!) ;;   # the slow one: in parallel
      *) run dpkg-deb -x "$deb" "$root" ;;
    esac
  done
  for p in "${pids[@]}"; do wait "$p" || rc=$?; done
  return "$rc"
}

# fix_headers ROOT FINAL_ROOT: the flavour headers' Makefile includes the -common
# tree by absolute path (/usr/src/...); point it at the unpacked copy.
# scripts/ and tools/ are relative symlinks into linux-kbuild-<series>.
fix_headers() {
  local mk=$1/usr/src/linux-headers-$KVER/Makefile
  [ -f "$mk" ] || return 0
  sed -i "s|^include /usr/src/|include $2/usr/src/|" "$mk"
  grep -q "^include $2/usr/src/linux-headers-$ABI-common/Makefile" "$mk" ||
    die "unexpected include line in $mk"
}

# first_file FILE...: the first that exists and is larger than a stub
first_file() {
  local f
  for f in "$@"; do
    if [ -f "$f" ] && [ "$(stat -c %s "$f")" -gt 4096 ]; then echo "$f"; return; fi
  done
}

# write_env TMP_ROOT FINAL_ROOT OUT: the variables, with final paths
write_env() {
  local t=$1 r=$2 out=$3 k v vmlinux sysmap vmlinuz kdir='' busybox='' config
  vmlinux=$(first_file "$t/usr/lib/debug/boot/vmlinux-$KVER" "$t/boot/vmlinux-$KVER")
  sysmap=$(first_file "$t/usr/lib/debug/boot/System.map-$KVER" "$t/boot/System.map-$KVER")
  vmlinuz=$(first_file "$t/boot/vmlinuz-$KVER" "$t/boot/vmlinux-$KVER")
  config=$(first_file "$t/boot/config-$KVER" "$t/usr/lib/debug/boot/config-$KVER")
  [ -d "$t/usr/src/linux-headers-$KVER" ] && kdir=$t/usr/src/linux-headers-$KVER
  [ -x "$t/bin/busybox" ] && busybox=$t/bin/busybox
  {
    echo "# written by tests/realdata/fetch.sh; empty = not part of this set"
    for k in SET ARCH KARCH CROSS_COMPILE FLAVOUR ABI KVER VERSION MODULE_COUNT \
             VMLINUX SYSTEM_MAP MODULES_DIR DEBUG_MODULES_DIR KDIR BUSYBOX VMLINUZ CONFIG; do
      case $k in
        KARCH) v=${KARCH[$ARCH]} ;;
        CROSS_COMPILE) v=$([ "$ARCH" = "$NATIVE" ] || echo "${CROSS[$ARCH]}") ;;
        MODULE_COUNT) v=$(find "$t/lib/modules/$KVER" -name '*.ko*' | wc -l) ;;
        VMLINUX) v=$vmlinux ;; SYSTEM_MAP) v=$sysmap ;; VMLINUZ) v=$vmlinuz ;;
        CONFIG) v=$config ;; KDIR) v=$kdir ;; BUSYBOX) v=$busybox ;;
        MODULES_DIR) v=$t/lib/modules/$KVER; [ -d "$v" ] || die "no $v" ;;
        DEBUG_MODULES_DIR) v=$t/usr/lib/debug/lib/modules/$KVER; [ -d "$v" ] || v= ;;
        *) v=${!k} ;;
      esac
      v=${v/#"$t"/$r}
      [[ $v != *"'"* ]] || die "quote in $k"
      printf "%s='%s'\n" "$k" "$v"
    done
  } >"$out"
}

# ---------------------------------------------------------------- one set
fetch_set() {
  SET=$1
  local dir=$KLP_REALDATA/$1 t0 tset tmp old='' stamp count size
  mkdir -p "$DEBS" "$LOGDIR"
  LOG=$LOGDIR/$1.log
  exec 9>"$KLP_REALDATA/.$1.lock"
  flock 9
  # a set unpacked by an older recipe is resolved again
  if [ -f "$dir/.done" ] && [ "$REFRESH" != 1 ] &&
     grep -qxF "recipe: $RECIPE" "$dir/.done"; then
    local want=
    case $1 in amd64-xz) want=$XZ_KABI ;; *) [ -z "$KABI" ] || want=$(strip_flavour "$KABI") ;; esac
    if [ -z "$want" ] || grep -qx "ABI='$want'" "$dir/env"; then
      printf '[%s] %-9s %6ss  %s\n' "$SET" cached 0.0 "$(cat "$dir/kver") in $dir"
      exec 9>&-
      return 0
    fi
  fi
  : >"$LOG"
  tset=$(now)
  # leftovers of an interrupted run of this set (we hold its lock)
  rm -rf "$KLP_REALDATA/.tmp-$1".* "$KLP_REALDATA/.old-$1".* "$DEBS/.partial-$1".*

  t0=$(now)
  case $1 in
    cloud-amd64) resolve_amd64 cloud-amd64 1 dbg busybox ;;
    amd64) resolve_amd64 amd64 0 dbg ;;
    arm64|ppc64el|s390x) resolve_foreign "$1" ;;
    amd64-xz) resolve_xz ;;
    *) die "unknown set '$1' (sets: $ALL_SETS all)" ;;
  esac
  # the packages, and what is unpacked from them (a new recipe unpacks again)
  stamp=$(printf '%s\n' "${PKGS[@]}" "recipe: $RECIPE")
  step resolve "$t0" "$KVER ($VERSION)"
  if [ -f "$dir/.done" ] && [ "$(grep -v '^#' "$dir/.done")" = "$stamp" ]; then
    step cached "$tset" "$KVER in $dir (same packages)"
    exec 9>&-
    return 0
  fi

  t0=$(now)
  download
  step download "$t0" "${#PKGS[@]} packages, $(mb "$DL_BYTES") ($DL_NEW fetched, $((${#PKGS[@]} - DL_NEW)) cached)"

  t0=$(now)
  tmp=$(mktemp -d "$KLP_REALDATA/.tmp-$1.XXXXXX")
  unpack "$tmp/root" || die "unpack failed"
  fix_headers "$tmp/root" "$dir/root"
  echo "$KVER" >"$tmp/kver"
  write_env "$tmp/root" "$dir/root" "$tmp/env"
  { echo "# $(date -u +%FT%TZ) fetch.sh $1"; echo "$stamp"; } >"$tmp/.done"
  if [ -e "$dir" ]; then
    old=$KLP_REALDATA/.old-$1.$$
    mv "$dir" "$old"
  fi
  mv "$tmp" "$dir"
  [ -z "${old:-}" ] || rm -rf "$old"
  count=$(sed -n "s/^MODULE_COUNT='\(.*\)'/\1/p" "$dir/env")
  size=$(du -sh "$dir/root" | cut -f1)
  step unpack "$t0" "$count modules, root $size"
  step "done" "$tset" "$KVER -> $dir/env"
  exec 9>&-
}

# ---------------------------------------------------------------- main
[ $# -gt 0 ] || { usage; exit 2; }
sets=()
for s in "$@"; do
  case $s in
    -h|--help) usage; exit 0 ;;
    all) read -ra all_sets <<<"$ALL_SETS"; sets+=("${all_sets[@]}") ;;
    cloud-amd64|amd64|arm64|ppc64el|s390x|amd64-xz) sets+=("$s") ;;
    *) echo "fetch.sh: unknown set '$s' (sets: $ALL_SETS all)" >&2; exit 2 ;;
  esac
done
[ "$NATIVE" = amd64 ] || { echo "fetch.sh: needs an amd64 Debian 12 host" >&2; exit 1; }
mkdir -p "$KLP_REALDATA" "$APTCACHE"
trap 'rm -rf "$APTCACHE/show.$$"' EXIT
declare -A seen=()
for s in "${sets[@]}"; do
  [ -z "${seen[$s]:-}" ] || continue
  seen[$s]=1
  fetch_set "$s"
done
