"""What the patch module's own DWARF declares of the symbols it takes from the kernel,
against the target (klp/livepatch/declarations.py): a variable declared larger than
the kernel's object, or a klp symbol of another kind than declared, is refused; an
ambiguous name is pointed at the copies of the declared kind. livepatch-split.ko is
built with -g and declares ``int fixture_count`` (4 bytes, as the sample kernel has
it) and ``int fixture_nonexp_func(int)``."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import pytest

from klp.symdb.model import SymbolRecord
from tests.support.cli import klp
from tests.support.paths import TESTDATA
from tests.support.symdb import rewritten

T = TESTDATA / "x86_64"


@pytest.fixture(scope="module")
def split(dbs: dict[str, pathlib.Path], tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    out = tmp_path_factory.mktemp("declarations") / "split.ko"
    klp("convert", str(T / "livepatch-split.ko"), "-o", str(out), "--symdb", str(dbs["x86_64"]),
        "--symvers", str(T / "Module.symvers"))
    return out


def smaller(db: pathlib.Path, out: pathlib.Path) -> pathlib.Path:
    """The sample kernel, but with core.c's fixture_count (position 2) a 2-byte short."""
    def shrink(obj: str, rows: list[SymbolRecord]) -> list[SymbolRecord]:
        return [r._replace(size=2) if (obj, r.name, r.pos) == ("vmlinux", "fixture_count", 2)
                else r for r in rows]

    return rewritten(db, out, shrink)


def verify(module: pathlib.Path, db: pathlib.Path, check: int) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(klp("verify", str(module), "--symdb", str(db), "--json",
                                         check=check).stdout)
    return doc


def declared(problems: list[dict[str, Any]], symbol: str, meant: str, found: str
             ) -> list[dict[str, Any]]:
    """The problems other than the one the module's record of its converted-for build
    (klp/livepatch/converted.py) adds, which must be there too: on these edited
    targets, ``symbol``'s position binds ``found`` where it named ``meant``."""
    [recorded] = [p for p in problems if p["message"].startswith("position ")]
    assert (recorded["symbol"], recorded["forcible"]) == (symbol, False)
    assert f"binds {found} on the target, but named {meant} on 6.1.0-klp-fixture" in \
        recorded["message"]
    return [p for p in problems if p is not recorded]


def test_declarations_that_fit_pass(split: pathlib.Path, dbs: dict[str, pathlib.Path]) -> None:
    assert verify(split, dbs["x86_64"], check=0)["problems"] == []


def test_a_variable_declared_larger_is_refused(split: pathlib.Path,
                                               dbs: dict[str, pathlib.Path],
                                               tmp_path: pathlib.Path) -> None:
    db = smaller(dbs["x86_64"], tmp_path / "short.klp")
    [problem] = verify(split, db, check=4)["problems"]
    assert (problem["symbol"], problem["forcible"]) == (".klp.sym.vmlinux.fixture_count,2", True)
    assert problem["message"] == (
        "the patch declares fixture_count as 4 bytes and vmlinux's fixture_count (core.c) is "
        "2 bytes: the patch's accesses reach past it, into what the kernel placed next; "
        "declare it with the target kernel's type")
    # convert checks its own result the same way: refused, unless the user knows better
    out = tmp_path / "out.ko"
    args = ("convert", str(T / "livepatch-split.ko"), "-o", str(out), "--symdb", str(db),
            "--symvers", str(T / "Module.symvers"))
    refused = json.loads(klp(*args, "--json", check=4).stdout)
    assert [p["message"] for p in refused["problems"]] == [problem["message"]]
    assert not out.exists()
    klp(*args, "--force")
    assert out.exists()


def test_a_module_without_dwarf_is_not_read(dbs: dict[str, pathlib.Path],
                                            tmp_path: pathlib.Path) -> None:
    """livepatch-fixture.ko has no DWARF: nothing to compare, nothing said."""
    out = tmp_path / "fixture.ko"
    klp("convert", str(T / "livepatch-fixture.ko"), "-o", str(out), "--symdb",
        str(dbs["x86_64"]), "--symvers", str(T / "Module.symvers"))
    db = smaller(dbs["x86_64"], tmp_path / "short.klp")
    assert not [p for p in verify(out, db, check=None)["problems"] if "declares" in p["message"]]


def test_a_function_that_binds_data_is_refused(split: pathlib.Path,
                                               dbs: dict[str, pathlib.Path],
                                               tmp_path: pathlib.Path) -> None:
    """The patch calls fixture_helper at position 1, and replaces it; on this target
    position 1 is an object (a name's static function and static variable count
    together)."""
    def data(obj: str, rows: list[SymbolRecord]) -> list[SymbolRecord]:
        return [r._replace(type="OBJECT", letter="d", section=".data")
                if (obj, r.name, r.pos) == ("vmlinux", "fixture_helper", 1) else r
                for r in rows]

    db = rewritten(dbs["x86_64"], tmp_path / "data.klp", data)
    problem, replaced = declared(verify(split, db, check=4)["problems"], ".klp.sym.vmlinux."
                                 "fixture_helper,1", "the function of core.c", "the data of core.c")
    assert (problem["symbol"], problem["forcible"]) == (".klp.sym.vmlinux.fixture_helper,1", True)
    # the patch also replaces fixture_helper at position 1, which the kernel refuses
    assert (replaced["kind"], replaced["symbol"], replaced["forcible"]) == (
        "function", "fixture_helper", False)
    assert replaced["message"].endswith(": position 1 is data (core.c), not a function: the "
                                        "kernel finds no ftrace call site there and refuses "
                                        "the patch")
    assert problem["message"] == (
        "the patch declares fixture_helper as a function and the symbol it binds, vmlinux's "
        "fixture_helper at position 1 (core.c), is data: a wrong position or name; the patch "
        "would jump into data; position 2 is the function of util.c")


def test_a_variable_that_binds_code_is_refused(split: pathlib.Path,
                                               dbs: dict[str, pathlib.Path],
                                               tmp_path: pathlib.Path) -> None:
    def code(obj: str, rows: list[SymbolRecord]) -> list[SymbolRecord]:
        return [r._replace(type="FUNC", letter="t", section=".text")
                if (obj, r.name, r.pos) == ("vmlinux", "fixture_count", 2) else r
                for r in rows]

    db = rewritten(dbs["x86_64"], tmp_path / "code.klp", code)
    [problem] = declared(verify(split, db, check=4)["problems"], ".klp.sym.vmlinux."
                         "fixture_count,2", "the data of core.c", "the function of core.c")
    assert problem["symbol"] == ".klp.sym.vmlinux.fixture_count,2"
    assert problem["message"].startswith(
        "the patch declares fixture_count as a variable and the symbol it binds, vmlinux's "
        "fixture_count at position 2 (core.c), is a function")
    assert problem["message"].endswith(
        "; position 1 is the data of head.c, position 3 is the data of util.c")


def test_an_ambiguous_name_points_at_the_declared_kind(dbs: dict[str, pathlib.Path],
                                                        tmp_path: pathlib.Path) -> None:
    """livepatch-split calls fixture_nonexp_func (unique in the sample kernel); on a
    kernel that also has a static variable of that name, convert asks which one, and
    the patch's declaration says: the function."""
    def add_data(obj: str, rows: list[SymbolRecord]) -> list[SymbolRecord]:
        if obj != "vmlinux":
            return rows
        data = next(r for r in rows if r.name == "fixture_state" and r.type == "OBJECT")
        at = next(i for i, r in enumerate(rows) if r.name == "fixture_nonexp_func")
        return [*rows[:at], data._replace(name="fixture_nonexp_func"), *rows[at:]]

    db = rewritten(dbs["x86_64"], tmp_path / "both.klp", add_data)
    report = json.loads(klp("convert", str(T / "livepatch-split.ko"), "--dry-run", "--symdb",
                            str(db), "--symvers", str(T / "Module.symvers"), "--json",
                            check=4).stdout)
    [problem] = report["problems"]
    assert problem["kind"] == "ambiguous" and problem["message"] == (
        "fixture_nonexp_func is defined 2 times in vmlinux; annotate the one you mean; the "
        "patch declares fixture_nonexp_func as a function, which only vmlinux position 2 is")
    assert problem["suggestions"] == [
        "KLP_MODULE_RELOC(vmlinux) ... = { KLP_SYMPOS(fixture_nonexp_func, 2) };"]
