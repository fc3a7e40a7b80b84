#!/usr/bin/env bash
# The whole pipeline on the bundled sample kernel (x86_64 by default):
# build the symbol database, convert a livepatch module, look at the result and
# verify it,
# then show the diagnostic for a module that references an ambiguous name.
set -euo pipefail
ARCH=${1:-x86_64}
HERE=$(cd "$(dirname "$0")" && pwd)
T=$HERE/$ARCH
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"

klp symdb build --vmlinux "$T/vmlinux" --modules "$T/modules" --symvers "$T/Module.symvers" \
    -o "$OUT/symbols.klp"
klp symdb query fixture_state mod_value --symdb "$OUT/symbols.klp"
klp convert "$T/livepatch-fixture.ko" -o "$OUT/livepatch-fixture.ko" \
    --symdb "$OUT/symbols.klp" --symvers "$T/Module.symvers"
klp elf relocs "$OUT/livepatch-fixture.ko" | grep -E '\.klp\.rela\.|section|━' || true
# what the module will bind on the kernel, checked against the build it was converted for
klp verify "$OUT/livepatch-fixture.ko" --symdb "$OUT/symbols.klp" | tail -n 1
echo
echo "An ambiguous reference (this one is expected to fail with exit code 4):"
rc=0
klp convert "$T/livepatch-ambiguous.ko" -o "$OUT/livepatch-ambiguous.ko" \
    --symdb "$OUT/symbols.klp" --symvers "$T/Module.symvers" || rc=$?
[ "$rc" -eq 4 ] || { echo "demo: expected exit code 4, got $rc" >&2; exit 1; }
echo "demo: done (outputs in $OUT)"
