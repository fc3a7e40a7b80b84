"""A module the target kernel builds into vmlinux (its modules.builtin): a patch that
registers it as a klp_object, or names it as the object of a symbol, is refused by
convert and verify, since no such module ever loads (Debian's cloud kernel has ext4
built in, for one). The database keeps the list (``%builtin``)."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import pytest

from klp.symdb.format import SymbolDB
from tests.support.cli import klp
from tests.support.convert import edited, replace_string
from tests.support.paths import TESTDATA, realdata_or_skip

T = TESTDATA / "x86_64"


@pytest.fixture(scope="module")
def builtin_db(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """The bundled kernel, told (by a modules.builtin beside no modules) that it has
    fixture_mod built in; kbuild's lines are paths, with '-' in file names."""
    out = tmp_path_factory.mktemp("builtin")
    modules = out / "modules"
    modules.mkdir()
    (modules / "modules.builtin").write_text(
        "kernel/drivers/fixture-mod.ko\nkernel/fs/ext4/ext4.ko\n\nnot a module path\n"
        "kernel/odd name.ko\n")
    db = out / "symbols.klp"
    klp("symdb", "build", "--vmlinux", str(T / "vmlinux"), "--modules", str(modules),
        "--symvers", str(T / "Module.symvers"), "-o", str(db))
    return db


def test_the_database_lists_them(builtin_db: pathlib.Path, dbs: dict[str, pathlib.Path]) -> None:
    assert SymbolDB(str(builtin_db)).builtin_modules == {"fixture_mod", "ext4"}
    assert SymbolDB(str(dbs["x86_64"])).builtin_modules == frozenset()  # none given


def convert(db: pathlib.Path, tmp_path: pathlib.Path, *extra: str) -> dict[str, Any]:
    out = tmp_path / "out.ko"
    proc = klp("convert", str(T / "livepatch-fixture.ko"), "-o", str(out), "--symdb", str(db),
               "--symvers", str(T / "Module.symvers"), "--json", *extra, check=4)
    assert not out.exists()
    report: dict[str, Any] = json.loads(proc.stdout)
    return report


@pytest.mark.parametrize("extra", [(), ("--force",)])
def test_convert_refuses_a_built_in_object(builtin_db: pathlib.Path, tmp_path: pathlib.Path,
                                           extra: tuple[str, ...]) -> None:
    """The klp_object and both KLP_SYMPOS(..., fixture_mod) annotations: refused, and
    --force does not help (the user cannot know better than the kernel's build)."""
    problems = {(p["kind"], p["symbol"]): p for p in convert(builtin_db, tmp_path,
                                                               *extra)["problems"]}
    registration = problems[("registration", "fixture_mod")]
    assert "fixture_mod is built into this kernel's vmlinux (modules.builtin)" in \
        registration["message"]
    assert "the vmlinux klp_object (.name = NULL)" in registration["message"]
    for name in ("mod_value", "fixture_log"):
        annotation = problems[("annotation", name)]
        assert annotation["message"].endswith("name vmlinux"), annotation
        assert "names object fixture_mod: fixture_mod is built into" in annotation["message"]
    assert not any(p["forcible"] for p in problems.values()
                   if "built into" in p["message"])


def test_verify_refuses_a_built_in_object(builtin_db: pathlib.Path, dbs: dict[str, pathlib.Path],
                                          tmp_path: pathlib.Path) -> None:
    """The module converted for a kernel with fixture_mod as a module, verified against
    one that builds it in: each of its fixture_mod klp symbols, and the registration."""
    converted = tmp_path / "converted.ko"
    klp("convert", str(T / "livepatch-fixture.ko"), "-o", str(converted), "--symdb",
        str(dbs["x86_64"]), "--symvers", str(T / "Module.symvers"))
    proc = klp("verify", str(converted), "--symdb", str(builtin_db), "--json", check=None)
    assert proc.returncode != 0
    problems = json.loads(proc.stdout)["problems"]
    bindings = [p for p in problems if p["kind"] == "binding"]
    assert {p["symbol"] for p in bindings} == {
        ".klp.sym.fixture_mod.mod_value,2", ".klp.sym.fixture_mod.fixture_mod_nonexp,0",
        ".klp.sym.fixture_mod.fixture_mod_exported,0", ".klp.sym.fixture_mod.fixture_log,0"}
    assert all("fixture_mod is built into" in p["message"] for p in bindings)
    assert [p["symbol"] for p in problems if p["kind"] == "registration"] == ["fixture_mod"]


def test_verify_kallsyms_reads_modules_builtin(builtin_db: pathlib.Path,
                                               dbs: dict[str, pathlib.Path],
                                               tmp_path: pathlib.Path) -> None:
    """Against a running kernel's /proc/kallsyms, the modules.builtin of the --modules
    folder tells a built-in object from one that is not loaded."""
    converted = tmp_path / "converted.ko"
    klp("convert", str(T / "livepatch-fixture.ko"), "-o", str(converted), "--symdb",
        str(dbs["x86_64"]), "--symvers", str(T / "Module.symvers"))
    dump = tmp_path / "kallsyms"
    dump.write_text("".join(f"{r.value:016x} {r.letter} {r.name}\n"
                            for r in SymbolDB(str(builtin_db))))
    proc = klp("verify", str(converted), "--kallsyms", str(dump), "--modules",
               str(builtin_db.parent / "modules"), "--json", check=None)
    bindings = [p for p in json.loads(proc.stdout)["problems"] if p["kind"] == "binding"]
    assert len(bindings) == 4 and all("fixture_mod is built into" in p["message"]
                                      for p in bindings)


def test_ext4_on_debians_cloud_kernel(tmp_path: pathlib.Path) -> None:
    """Debian's cloud-amd64 kernel builds ext4 in: a patch whose klp_object is "ext4"
    would load there and never patch anything. (The bundled patch with its module's
    name replaced; --force passes the other kernel's vermagic, not this.)"""
    env = realdata_or_skip("cloud-amd64")
    db = tmp_path / "cloud.klp"
    klp("symdb", "build", "--vmlinux", env["VMLINUX"], "--modules", env["MODULES_DIR"],
        "-o", str(db))
    module = edited(tmp_path, "x86_64", replace_string(b"fixture_mod", b"ext4"))
    proc = klp("convert", str(module), "-o", str(tmp_path / "out.ko"), "--symdb", str(db),
               "--force", "--json", check=4)
    [found] = [p for p in json.loads(proc.stdout)["problems"] if p["kind"] == "registration"]
    assert found["symbol"] == "ext4" and not found["forcible"]
    assert "ext4 is built into this kernel's vmlinux (modules.builtin)" in found["message"]
