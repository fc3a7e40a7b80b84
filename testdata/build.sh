#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Rebuild the bundled klp test data from testdata/src.
#
# Usage: testdata/build.sh [TARGET...]
#   (none)     the four architectures and the COMDAT group fixture
#   x86_64 arm64 ppc64le s390x
#              one architecture: testdata/<arch>/
#   group      testdata/group/     (SHT_GROUP objects, cheap)
#   xindex     testdata/xindex/    (> 65,280 sections, slow: about 45 s)
#   check      run testdata/check.py on the results
#
# Needs (Debian 12): gcc, gcc-aarch64-linux-gnu, gcc-powerpc64le-linux-gnu,
# gcc-s390x-linux-gnu (binutils 2.40), xz-utils.  The outputs are committed so
# that tests never need a cross compiler.
#
# Deterministic: the same toolchain produces the same bytes on every run.
# Sources are compiled from inside testdata/src with relative paths, no -g,
# fixed locale and time zone; build IDs are content hashes; xz runs single-
# threaded.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$HERE/src
INC=$(cd "$HERE/../klp/include" && pwd)
export LC_ALL=C TZ=UTC SOURCE_DATE_EPOCH=0
unset GCC_COLORS CPATH C_INCLUDE_PATH LIBRARY_PATH || true

KREL=6.1.0-klp-fixture

# ---------------------------------------------------------------- per arch
# CROSS: tool prefix.  ARCHFLAGS: code generation for every object (taken from
# Debian 6.1's Kbuild, research/realdata.md C.3, minus the stack protector and
# retpolines to keep the objects small).  VMFLAGS / MODFLAGS: what differs
# between vmlinux objects and module objects.  BASE: link address of vmlinux.
set_arch() {
	case "$1" in
	x86_64)
		CROSS=x86_64-linux-gnu-
		ARCHFLAGS="-m64 -mcmodel=kernel -mno-red-zone -mno-sse -mno-mmx -mno-sse2 -mno-3dnow
			-mno-avx -mno-80387 -mno-fp-ret-in-387 -mpreferred-stack-boundary=3
			-mskip-rax-setup -mtune=generic -fcf-protection=none -falign-jumps=1
			-falign-loops=1 -fno-jump-tables -mfunction-return=thunk-extern
			-pg -mrecord-mcount -mfentry -fno-PIE"
		VMFLAGS=""
		MODFLAGS=""
		BASE=0xffffffff81000000
		VERMAGIC="$KREL SMP preempt mod_unload "
		;;
	arm64)
		CROSS=aarch64-linux-gnu-
		ARCHFLAGS="-mlittle-endian -mgeneral-regs-only -mabi=lp64 -fno-unwind-tables
			-mbranch-protection=pac-ret+leaf -fno-omit-frame-pointer
			-fno-optimize-sibling-calls -fpatchable-function-entry=2 -fno-PIE"
		VMFLAGS=""
		MODFLAGS=""
		BASE=0xffff800008000000
		VERMAGIC="$KREL SMP preempt mod_unload aarch64"
		;;
	ppc64le)
		CROSS=powerpc64le-linux-gnu-
		ARCHFLAGS="-mlittle-endian -m64 -msoft-float -mtraceback=no -mabi=elfv2
			-mno-pointers-to-nested-functions -mcpu=power8 -mtune=power10 -mno-prefixed
			-mno-pcrel -mno-altivec -mno-vsx -mno-mma -mno-strict-align
			-pg -mprofile-kernel -mno-save-toc-indirect -fno-PIE"
		VMFLAGS="-mcmodel=medium"
		MODFLAGS="-mcmodel=large"
		BASE=0xc000000000000000
		VERMAGIC="$KREL SMP preempt mod_unload "
		;;
	s390x)
		CROSS=s390x-linux-gnu-
		ARCHFLAGS="-m64 -mpacked-stack -mbackchain -msoft-float -march=z10 -mtune=z10
			-pg -mrecord-mcount -mnop-mcount -mfentry"
		VMFLAGS="-fPIE"
		MODFLAGS="-fPIC"
		BASE=0x100000
		VERMAGIC="$KREL SMP preempt mod_unload "
		;;
	*) echo "unknown arch $1" >&2; exit 2 ;;
	esac
	# collapse the multi-line flag strings
	ARCHFLAGS=$(echo $ARCHFLAGS)
}

COMMON="-O2 -std=gnu11 -nostdinc -ffreestanding -fno-strict-aliasing -fno-common
	-fshort-wchar -fno-delete-null-pointer-checks -fno-allow-store-data-races
	-fno-stack-protector -fno-strict-overflow -fno-stack-check -fconserve-stack
	-fno-asynchronous-unwind-tables -ffile-prefix-map=$SRC/=
	-D__KERNEL__ -Iinclude -I$INC -Wall -Wno-unused-function -Werror"
COMMON=$(echo $COMMON)

# cc OUT SRC [flags...]  (SRC relative to testdata/src)
cc() {
	local out=$1 src=$2
	shift 2
	# shellcheck disable=SC2086
	(cd "$SRC" && "${CROSS}gcc" -c $COMMON $ARCHFLAGS "$@" -frandom-seed="$src" \
		-o "$out" "$src")
}

# modpost-like: print Module.symvers lines for the exports found in objects.
# symvers_of MODPATH OBJ...
symvers_of() {
	local modpath=$1 o
	shift
	for o in "$@"; do
		{
			"${CROSS}readelf" -SW "$o" |
				sed -n 's/^ *\[ *\([0-9][0-9]*\)\] \([^ ]*\) .*/S \1 \2/p'
			"${CROSS}readelf" -sW "$o" | awk '$8 != "" && $4 != "SECTION" {print "Y", $7, $2, $8}'
			"${CROSS}readelf" -p __ksymtab_strings "$o" 2>/dev/null |
				sed -n 's/^ *\[ *\([0-9a-f][0-9a-f]*\)\]  \(.*\)$/P \1 \2/p'
		} | awk -v mod="$modpath" '
			function hex(h,   i, v) {
				v = 0; h = tolower(h)
				for (i = 1; i <= length(h); i++)
					v = v * 16 + index("0123456789abcdef", substr(h, i, 1)) - 1
				return v
			}
			$1 == "S" { secname[$2] = $3; next }
			$1 == "P" { str[hex($2)] = $3; next }
			$1 == "Y" && $4 ~ /^__ksymtab_/ { ks[substr($4, 11)] = secname[$2]; next }
			$1 == "Y" && $4 ~ /^__kstrtabns_/ {
				ns[substr($4, 13)] = hex($3); next }
			END {
				for (s in ks) {
					t = (ks[s] ~ /^___ksymtab_gpl\+/) ? "EXPORT_SYMBOL_GPL" : "EXPORT_SYMBOL"
					n = (s in ns && ns[s] in str) ? str[ns[s]] : ""
					printf "0x00000000\t%s\t%s\t%s\t%s\n", s, mod, t, n
				}
			}'
	done
}

# like scripts/mksysmap: address-sorted nm output without undefined, debug,
# local-absolute and weak-undefined symbols, local labels, mapping symbols
# and the export string symbols (kallsyms does not list those either)
mksysmap() {
	"${CROSS}nm" -n "$1" |
		grep -v -e ' [aNUw] ' -e ' \$' -e ' \.L' -e ' L0$' \
			-e ' __crc_' -e ' __kstrtab_' -e ' __kstrtabns_' >"$2"
}

# link_module OUT MODNAME DEPENDS OBJ...   (OBJ: the module's composite .o)
link_module() {
	local out=$1 modname=$2 depends=$3 obj=$4
	local base=${out%.ko}
	cc "$base.mod.o" modpost/mod.c -DMODULE $MODFLAGS \
		-DKBUILD_MODNAME="\"$modname\"" -DFIXTURE_VERMAGIC="\"$VERMAGIC\"" \
		-DFIXTURE_DEPENDS="\"$depends\""
	"${CROSS}ld" -r --build-id=sha1 -T "$TMP/module.lds" -o "$out" "$obj" "$base.mod.o"
}

build_arch() {
	local arch=$1 out=$HERE/$1
	set_arch "$arch"
	command -v "${CROSS}gcc" >/dev/null || { echo "missing ${CROSS}gcc" >&2; exit 1; }
	echo "== $arch"
	rm -rf "$out"
	mkdir -p "$out/kernel" "$out/modules"
	TMP=$(mktemp -d)
	trap 'rm -rf "$TMP"' RETURN

	# module linker script with the arch placeholders
	if [ "$arch" = arm64 ]; then
		sed -e "/@ARCH_SECTIONS@/r $SRC/modpost/module-arm64.lds" -e '/@ARCH_SECTIONS@/d' \
			"$SRC/modpost/module.lds" >"$TMP/module.lds"
	else
		sed -e '/@ARCH_SECTIONS@/d' "$SRC/modpost/module.lds" >"$TMP/module.lds"
	fi

	# --- vmlinux
	sed "s/KERNEL_BASE/$BASE/" "$SRC/kernel/vmlinux.lds" >"$TMP/vmlinux.lds"
	local f
	for f in head core util; do
		cc "$out/kernel/$f.o" "kernel/$f.c" $VMFLAGS
	done
	"${CROSS}ld" -static -nostdlib --build-id=sha1 -z noexecstack \
		-z max-page-size=0x1000 -z common-page-size=0x1000 --no-warn-rwx-segments \
		-T "$TMP/vmlinux.lds" \
		-o "$out/vmlinux" "$out/kernel/head.o" "$out/kernel/core.o" "$out/kernel/util.o"
	mksysmap "$out/vmlinux" "$out/System.map"

	# --- fixture-mod: two parts, one composite object, one .ko
	cc "$out/modules/fixture-main.o" module/fixture-main.c -DMODULE $MODFLAGS \
		-DKBUILD_MODNAME='"fixture_mod"'
	cc "$out/modules/fixture-util.o" module/fixture-util.c -DMODULE $MODFLAGS \
		-DKBUILD_MODNAME='"fixture_mod"'
	"${CROSS}ld" -r -o "$out/modules/fixture-mod.o" \
		"$out/modules/fixture-main.o" "$out/modules/fixture-util.o"
	link_module "$out/modules/fixture-mod.ko" fixture_mod "" "$out/modules/fixture-mod.o"

	# --- livepatch modules (one object each)
	cc "$out/livepatch-fixture.o" livepatch/livepatch-fixture.c -DMODULE $MODFLAGS \
		-DKBUILD_MODNAME='"livepatch_fixture"'
	# modpost would record the dependency on the module whose export is used
	link_module "$out/livepatch-fixture.ko" livepatch_fixture fixture_mod \
		"$out/livepatch-fixture.o"
	cc "$out/livepatch-ambiguous.o" livepatch/livepatch-ambiguous.c -DMODULE $MODFLAGS \
		-DKBUILD_MODNAME='"livepatch_ambiguous"'
	link_module "$out/livepatch-ambiguous.ko" livepatch_ambiguous "" \
		"$out/livepatch-ambiguous.o"

	# --- a livepatch of three files whose annotations disagree (symbol splits),
	# with debug info (DWARF compile units say which file code came from)
	local part
	for part in main core util; do
		cc "$TMP/livepatch-split-$part.o" "livepatch/livepatch-split-$part.c" -DMODULE \
			$MODFLAGS -DKBUILD_MODNAME='"livepatch_split"' -g -fdebug-prefix-map="$SRC"=. \
			-fdebug-prefix-map="$INC"=klp/include
	done
	"${CROSS}ld" -r -o "$out/livepatch-split.o" "$TMP"/livepatch-split-{main,core,util}.o
	link_module "$out/livepatch-split.ko" livepatch_split "" "$out/livepatch-split.o"

	# --- Module.symvers, modules.order, modules.livepatch
	{
		symvers_of vmlinux "$out"/kernel/{head,core,util}.o | sort -t $'\t' -k2,2
		symvers_of modules/fixture-mod "$out/modules/fixture-mod.o" | sort -t $'\t' -k2,2
	} >"$out/Module.symvers"
	printf '%s\n' modules/fixture-mod.o livepatch-fixture.o livepatch-ambiguous.o \
		livepatch-split.o >"$out/modules.order"
	printf '%s\n' livepatch-fixture.o livepatch-ambiguous.o livepatch-split.o \
		>"$out/modules.livepatch"
	echo "$KREL" >"$out/kernel.release"
	du -sk "$out" | awk -v a="$arch" '{print "   " a ": " $1 " KiB"}'
}

# ---------------------------------------------------------------- group
# Objects with SHT_GROUP (COMDAT) sections: inline retpoline / return thunks
# (x86_64) and expolines (s390x) are emitted as COMDAT functions when the
# thunks are not external.  Real modules never have these; the codec must
# still round-trip them.
build_group() {
	local out=$HERE/group
	echo "== group"
	rm -rf "$out"
	mkdir -p "$out"
	set_arch x86_64
	(cd "$SRC" && x86_64-linux-gnu-gcc -c $COMMON -O2 -mcmodel=kernel -mno-red-zone -fno-PIE \
		-mindirect-branch=thunk -mfunction-return=thunk -frandom-seed=group \
		-o "$out/group-x86_64.o" group/group.c)
	set_arch s390x
	(cd "$SRC" && s390x-linux-gnu-gcc -c $COMMON -O2 -fPIC -march=z10 -mtune=z10 \
		-mindirect-branch=thunk -mfunction-return=thunk -frandom-seed=group \
		-o "$out/group-s390x.o" group/group.c)
}

# ---------------------------------------------------------------- xindex
# More than 65,280 sections: e_shnum = 0 (the count is in section 0's
# sh_size), e_shstrndx = SHN_XINDEX (real index in section 0's sh_link),
# a .symtab_shndx section and symbols with st_shndx = SHN_XINDEX.
XINDEX_N=33000
gen_many() {
	local n=$1 i
	echo "/* generated by testdata/build.sh: $n one-line functions */"
	echo "int many_sink;"
	for ((i = 0; i < n; i++)); do
		echo "void fn$i(void) { many_sink = $i; }"
	done
}

build_xindex() {
	local out=$HERE/xindex
	echo "== xindex (slow)"
	rm -rf "$out"
	mkdir -p "$out"
	TMP=$(mktemp -d)
	trap 'rm -rf "$TMP"' RETURN
	gen_many "$XINDEX_N" >"$TMP/many.c"
	(cd "$TMP" && x86_64-linux-gnu-gcc -c -O1 -ffunction-sections -fno-asynchronous-unwind-tables \
		-mcmodel=kernel -fno-PIE -frandom-seed=many -o many-x86_64.o many.c)
	(cd "$TMP" && s390x-linux-gnu-gcc -c -O1 -ffunction-sections -fno-asynchronous-unwind-tables \
		-fPIC -march=z10 -frandom-seed=many -o many-s390x.o many.c)
	xz -9 -T1 -c "$TMP/many-x86_64.o" >"$out/many-x86_64.o.xz"
	xz -9 -T1 -c "$TMP/many-s390x.o" >"$out/many-s390x.o.xz"
	ls -l "$out"
}

# ---------------------------------------------------------------- main
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(x86_64 arm64 ppc64le s390x group)
for t in "${TARGETS[@]}"; do
	case "$t" in
	x86_64 | arm64 | ppc64le | s390x) build_arch "$t" ;;
	group) build_group ;;
	xindex) build_xindex ;;
	check) python3 "$HERE/check.py" ;;
	*) echo "unknown target: $t" >&2; exit 2 ;;
	esac
done
