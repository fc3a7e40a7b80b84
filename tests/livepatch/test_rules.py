"""rules.module_reload: which module-specific klp relocations a kernel gets wrong when
the patched module is removed and loaded again (seen in tests/e2e on 6.1)."""

from __future__ import annotations

import json
import pathlib

import pytest

from klp.elfcodec.arch import ARCHES
from klp.elfcodec.constants import EM
from klp.elfcodec.dwarf import Signature
from klp.livepatch import rules
from klp.symdb.model import SymbolRecord
from tests.support.convert import convert
from tests.support.paths import ARCHES as ARCH_NAMES

X86, ARM64, PPC64, S390 = (ARCHES[m] for m in (EM.X86_64, EM.AARCH64, EM.PPC64, EM.S390))
BL = (0x48000001).to_bytes(4, "little") + rules.PPC_NOP.to_bytes(4, "little")  # bl; nop
B = (0x48000000).to_bytes(4, "little")  # b (a sibling call: no r2 restore)
R_390_GOTENT, R_390_PLT32DBL, R_390_64 = 26, 20, 22
R_PPC64_ADDR64 = 38
R_AARCH64_CALL26 = 283


def test_vmlinux_relocations_are_never_at_risk() -> None:
    """vmlinux is never reloaded: its klp relocations are applied once, with the patch."""
    for arch, rtype in ((X86, 2), (PPC64, rules.PPC64_REL24), (S390, R_390_GOTENT)):
        assert rules.module_reload(arch, "vmlinux", rtype, BL, 0, None) is None


def test_x86_64_every_relocation_before_6_3() -> None:
    """The x86 loader refuses a target that is not zero (arch/x86/kernel/module.c)."""
    for rtype in (1, 2, 4, 10, 11, 24):
        warning = rules.module_reload(X86, "mod", rtype, b"\0" * 8, 0, None)
        assert warning and "before 6.3" in warning and "existing value is nonzero" in warning
        assert "module mod" in warning and "disable and remove this patch first" in warning


def test_ppc64le_linking_calls_before_6_3() -> None:
    """restore_r2() wants a nop after a bl (arch/powerpc/kernel/module_64.c)."""
    warning = rules.module_reload(PPC64, "mod", rules.PPC64_REL24, BL, 0, None)
    assert warning and "before 6.3" in warning and "Expected nop after call" in warning
    assert rules.module_reload(PPC64, "mod", rules.PPC64_REL24, B, 0, None) is None
    assert rules.module_reload(PPC64, "mod", R_PPC64_ADDR64, BL, 0, None) is None  # .toc data


def test_s390x_got_slots_in_every_release() -> None:
    """apply_rela() fills a GOT slot once (arch/s390/kernel/module.c); calls in range
    of the module area branch directly and are rewritten."""
    warning = rules.module_reload(S390, "mod", R_390_GOTENT, b"", 0, None)
    assert warning and "GOT" in warning and "6.12" in warning
    for rtype in rules.S390_GOT_TYPES:
        assert rules.module_reload(S390, "mod", rtype, b"", 0, None) == warning
    assert rules.module_reload(S390, "mod", R_390_PLT32DBL, b"", 0, None) is None
    assert rules.module_reload(S390, "mod", R_390_64, b"", 0, None) is None


def test_fixed_kernels_are_not_warned_about() -> None:
    """x86_64 and ppc64le 6.3 clear or accept what the first load wrote; s390x does not."""
    assert rules.module_reload(X86, "mod", 2, b"\0" * 8, 0, (6, 3)) is None
    assert rules.module_reload(PPC64, "mod", rules.PPC64_REL24, BL, 0, (6, 12)) is None
    assert rules.module_reload(X86, "mod", 2, b"\0" * 8, 0, (6, 1))
    assert rules.module_reload(S390, "mod", R_390_GOTENT, b"", 0, (6, 12))


def test_arm64_has_no_livepatch_to_reload() -> None:
    assert rules.module_reload(ARM64, "mod", R_AARCH64_CALL26, b"\0" * 4, 0, None) is None


@pytest.mark.parametrize("arch", ARCH_NAMES)
def test_convert_warns_once_per_module(arch: str, dbs: dict[str, pathlib.Path],
                                       tmp_path: pathlib.Path) -> None:
    """The bundled fixture patches fixture_mod (a call, data through .toc or the GOT):
    klp convert warns once about reloading it, and converts it all the same."""
    proc = convert(arch, dbs[arch], "livepatch-fixture.ko", tmp_path / "lp.ko", "--json")
    report = json.loads(proc.stdout)
    assert report["status"] == "converted"
    about = [w for w in report["warnings"] if "again while this patch is loaded" in w]
    if arch == "arm64":
        assert about == []
    else:
        assert len(about) == 1 and "module fixture_mod" in about[0], report["warnings"]


@pytest.mark.parametrize(("old", "new", "why"), [
    (((4,), 4, False), ((4,), 4, False), None),
    (((8, 8), 4, False), ((8,), 4, False), None),  # a callee may ignore trailing arguments
    (((4,), 4, False), ((4, 8), 4, False), "takes 2 parameters and old 1"),
    (((8, 4), 4, False), ((8, 8), 4, False), "parameter 2 is 8 bytes in new and 4 in old"),
    (((8, None), 4, False), ((8, 8), 4, False), None),  # a size DWARF does not give
    (((4,), 4, False), ((4,), 0, False), "old's callers use what it returns"),
    (((4,), 0, False), ((4,), 4, False), None),  # a value nobody reads
    (((4,), 4, False), ((4,), 8, False), "new returns 8 bytes and old 4"),
    (((4,), 4, True), ((4,), 4, False), "one of them is variadic"),
])
def test_prototype_mismatch(old: tuple[tuple[int | None, ...], int, bool],
                            new: tuple[tuple[int | None, ...], int, bool],
                            why: str | None) -> None:
    found = rules.prototype_mismatch("old", Signature(*old), "new", Signature(*new))
    if why is None:
        assert found is None
    else:
        assert found is not None and why in found, found


def record(type_: str, size: int | None) -> SymbolRecord:
    return SymbolRecord("foo", "vmlinux", 1, 2, "d" if type_ == "OBJECT" else "t", type_,
                        "LOCAL", size, ".data", 0, "foo.c", False, 1, 2)


def test_call_mismatch_says_which_side_is_which() -> None:
    """The patch's calls pass what its declaration says; the kernel's function reads
    what its own says."""
    found = rules.call_mismatch(record("FUNC", 40), Signature((4,), 4, False),
                                Signature((4, 8), 4, False))
    assert found == (
        "the patch declares foo(4) and vmlinux's foo (foo.c) is foo(4, 8) (parameter sizes "
        "in bytes, from DWARF): vmlinux's foo takes 2 parameters and the patch's declaration "
        "1: vmlinux's foo reads arguments the patch's calls never pass; declare it with the "
        "target kernel's prototype")
    assert rules.call_mismatch(record("FUNC", 40), Signature((4, 8), 4, False),
                               Signature((4,), 4, False)) is None  # extra arguments: ignored


@pytest.mark.parametrize(("type_", "size", "declared", "refused"), [
    ("OBJECT", 4, 4, False), ("OBJECT", 4, 2, False), ("OBJECT", 4, 8, True),
    ("TLS", 4, 8, True),
    ("OBJECT", 0, 8, False),  # no size: a linker-script or assembler label
    ("OBJECT", None, 8, False),  # System.map: sizes unknown
    ("FUNC", 4, 8, False),  # code whose bytes or address the patch takes
])
def test_declared_size(type_: str, size: int | None, declared: int, refused: bool) -> None:
    found = rules.declared_size(record(type_, size), declared)
    assert (found is not None) == refused, found


@pytest.mark.parametrize(("type_", "letter", "code"), [
    ("FUNC", "t", True), ("OBJECT", "d", False), ("TLS", "d", False),
    ("?", "T", True), ("?", "W", True), ("?", "b", False), ("?", "R", False),
    ("?", "a", None), ("NOTYPE", "t", True), ("NOTYPE", "A", None),
])
def test_is_code(type_: str, letter: str, code: bool | None) -> None:
    """From the type where the database has it, else from the kallsyms letter."""
    assert rules.is_code(record(type_, 4)._replace(letter=letter)) is code
