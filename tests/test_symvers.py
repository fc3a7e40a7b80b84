"""Module.symvers: the converter's reading of a few names agrees with reading it all."""

from __future__ import annotations

import pathlib

import pytest

from klp.errors import InputError
from klp.symvers import Exports, read_symvers
from tests.support.paths import TESTDATA, realdata_or_skip

LINES = (b"0x1\tvmlinux_func\tvmlinux\tEXPORT_SYMBOL\t\n"
         b"0x2\tgpl_func\tvmlinux\tEXPORT_SYMBOL_GPL\tNS\n"
         b"0x3\tmod_func\tdrivers/x/my-mod\tEXPORT_SYMBOL\t\n"
         # a symbol named like a module path: only the symbol column counts
         b"0x4\tmy-mod\tfs/other\tEXPORT_SYMBOL_GPL\t\n"
         b"0x5\tdrivers/x/my-mod\tvmlinux\tEXPORT_SYMBOL\t\n")


def restricted(exports: Exports, names: set[str]) -> tuple[set[str], dict[str, str]]:
    """What the converter asks of exports, about ``names``."""
    return ({n for n in exports.vmlinux if n in names},
            {n: o for n, o in exports.modules.items() if n in names})


def assert_same_answers(path: pathlib.Path, names: set[str]) -> None:
    whole = read_symvers(str(path))
    assert restricted(read_symvers(str(path), names), names) == restricted(whole, names)


@pytest.mark.parametrize("names", [
    {"vmlinux_func", "gpl_func", "mod_func"},
    {"my-mod", "vmlinux", "fs/other", "drivers/x/my-mod", "mod_func\tdrivers"},
    {"", "\n", "missing", "0x1"},
])
def test_a_few_names_read_as_all_lines_do(tmp_path: pathlib.Path, names: set[str]) -> None:
    path = tmp_path / "Module.symvers"
    for data in (LINES, LINES.rstrip(b"\n"), LINES.replace(b"\n", b"\r\n")):
        path.write_bytes(data)
        assert_same_answers(path, names)


def test_the_bundled_samples_and_a_distro_file_agree() -> None:
    for path in sorted(TESTDATA.glob("*/Module.symvers")):
        names = {line.split("\t")[1] for line in path.read_text().splitlines()}
        assert_same_answers(path, names | {"absent"})
    env = realdata_or_skip("cloud-amd64")
    path = pathlib.Path(env["KDIR"]) / "Module.symvers"
    names = {line.split("\t")[1] for line in path.read_text().splitlines()[::97]}
    assert_same_answers(path, names | {"vmlinux", "absent"})


def test_another_kind_of_file_a_cut_one_or_a_damaged_line_is_an_error(
        tmp_path: pathlib.Path) -> None:
    path = tmp_path / "Module.symvers"
    path.write_bytes(b"\x7fELF\x02\x01\x01" + bytes(64))
    with pytest.raises(InputError, match=r":1: not a Module.symvers line"):
        read_symvers(str(path), {"vmlinux_func"})
    path.write_bytes(LINES + b"0x9\tcut_func")  # cut short after a name
    with pytest.raises(InputError, match=r":6: not a Module.symvers line"):
        read_symvers(str(path), {"gpl_func"})
    broken = LINES.replace(b"0x3\tmod_func", b"junk\tmod_func")
    path.write_bytes(broken)
    with pytest.raises(InputError, match=r":3: not a Module.symvers line"):
        read_symvers(str(path), {"mod_func"})
    # a line in the middle that no one asks about is not read (the whole read says it)
    assert read_symvers(str(path), {"gpl_func"}).vmlinux == {"gpl_func", "vmlinux_func",
                                                              "drivers/x/my-mod"}
    with pytest.raises(InputError, match=r":3: not a Module.symvers line"):
        read_symvers(str(path), {f"name{i}" for i in range(100)})  # many: all lines
    path.write_bytes(b"")
    assert read_symvers(str(path), {"gpl_func"}).vmlinux == set()


@pytest.mark.parametrize("names", [{"b", "c", "\ud800", ""}, {f"n{i}" for i in range(60)}])
def test_odd_files_and_names_read_alike_both_ways(tmp_path: pathlib.Path,
                                                 names: set[str]) -> None:
    """Line ends are ``\\n`` both ways (a lone ``\\r`` is part of a line), a name no
    file can hold (a lone surrogate) is not exported, and an empty name is looked up
    like any other."""
    path = tmp_path / "Module.symvers"
    for data in (b"0x1\ta\tvmlinux\tEXPORT_SYMBOL\t\r0x2\tb\tvmlinux\tEXPORT_SYMBOL\t\n",
                 b"0x1\ta\r\tvmlinux\tEXPORT_SYMBOL\t\n0x3\tc\tm\tEXPORT_SYMBOL_GPL\t",
                 b"0x1\t\tvmlinux\tEXPORT_SYMBOL\t\n0x2\tb\tvmlinux\tEXPORT_SYMBOL\t\n"):
        path.write_bytes(data)
        assert_same_answers(path, names | {"a\r", "a"})
