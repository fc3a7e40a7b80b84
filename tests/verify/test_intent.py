"""``klp verify --converted-with``: each position still names the copy it named on the
build the module was converted for, when the target is another build of the same
release."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import pytest

from klp.elfcodec.elffile import ElfFile
from klp.symdb.format import SymbolDB
from tests.support.cli import klp
from tests.support.convert import rename_symbols
from tests.support.paths import TESTDATA, realdata_or_skip
from tests.support.symdb import respun


@pytest.fixture(scope="module")
def fixture_patch(converted: dict[str, pathlib.Path]) -> pathlib.Path:
    """livepatch-fixture.ko of x86_64, converted (.klp.sym.vmlinux.fixture_state,2 names
    core.c's object; position 1 is util.c's function)."""
    return converted["x86_64"]


def verify(patch: pathlib.Path, target: pathlib.Path, built: pathlib.Path,
           check: int) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(klp("verify", str(patch), "--symdb", str(target),
                                         "--converted-with", str(built), "--json",
                                         check=check).stdout)
    return doc


def test_the_same_build_names_the_same_copies(fixture_patch: pathlib.Path,
                                              dbs: dict[str, pathlib.Path]) -> None:
    doc = verify(fixture_patch, dbs["x86_64"], dbs["x86_64"], check=0)
    assert doc["problems"] == [] and doc["target"]["converted_with"] == str(dbs["x86_64"])
    assert not [w for w in doc["warnings"] if "converted" in w or "cannot tell" in w]


def test_a_moved_copy_is_refused_with_its_new_position(fixture_patch: pathlib.Path,
                                                       dbs: dict[str, pathlib.Path],
                                                       tmp_path: pathlib.Path) -> None:
    """Converted on a build where position 2 was util.c's function; on the target,
    position 2 is core.c's object and util.c's function is position 1."""
    built = respun(dbs["x86_64"], tmp_path, "fixture_state")
    doc = verify(fixture_patch, dbs["x86_64"], built, check=4)
    [problem] = doc["problems"]
    assert problem["symbol"] == ".klp.sym.vmlinux.fixture_state,2"
    assert problem["message"] == (
        f"position 2 binds the data of core.c on the target, but named the function of "
        f"util.c on {built}, the build it was converted for; on the target it is "
        ".klp.sym.vmlinux.fixture_state,1: convert the module again against the target's "
        "database")
    assert [c["file"] for c in problem["candidates"]] == ["core.c", "util.c"]


def test_a_moved_function_is_refused(fixture_patch: pathlib.Path,
                                     dbs: dict[str, pathlib.Path],
                                     tmp_path: pathlib.Path) -> None:
    """A klp_func's old_sympos is a position too."""
    doc = verify(fixture_patch, dbs["x86_64"], respun(dbs["x86_64"], tmp_path, "fixture_helper"),
                 check=4)
    assert {(p["kind"], p["symbol"]) for p in doc["problems"]} == {
        ("binding", ".klp.sym.vmlinux.fixture_helper,1")} | {
        ("function", f["old_name"]) for f in doc["functions"]
        if f["old_name"] == "fixture_helper"}


def test_a_database_without_source_files_cannot_tell(fixture_patch: pathlib.Path,
                                                     dbs: dict[str, pathlib.Path],
                                                     tmp_path: pathlib.Path) -> None:
    t = TESTDATA / "x86_64"
    system_map = tmp_path / "map.klp"
    klp("symdb", "build", "--system-map", str(t / "System.map"), "--modules",
        str(t / "modules"), "-o", str(system_map))
    doc = verify(fixture_patch, dbs["x86_64"], system_map, check=0)
    [blind] = [w for w in doc["warnings"] if w.startswith("cannot tell whether ")]
    assert ".klp.sym.vmlinux.fixture_state,2 bind" in blind and str(system_map) in blind


def test_without_source_files_the_kind_still_tells(fixture_patch: pathlib.Path,
                                                   dbs: dict[str, pathlib.Path],
                                                   tmp_path: pathlib.Path) -> None:
    """A target from System.map has no source files, but its type letters say that
    position 2 is data, where the build the module was converted for had a function."""
    t = TESTDATA / "x86_64"
    system_map = tmp_path / "map.klp"
    klp("symdb", "build", "--system-map", str(t / "System.map"), "--modules",
        str(t / "modules"), "-o", str(system_map))
    built = respun(dbs["x86_64"], tmp_path, "fixture_state")
    doc = verify(fixture_patch, system_map, built, check=4)
    [problem] = doc["problems"]
    assert problem["message"] == (
        f"position 2 binds the data on the target, but named the function of util.c on "
        f"{built}, the build it was converted for; on the target it is "
        ".klp.sym.vmlinux.fixture_state,1: convert the module again against the target's "
        "database")


def test_debians_cloud_and_generic_builds_differ(fixture_patch: pathlib.Path,
                                                tmp_path: pathlib.Path) -> None:
    """One source, two configurations: Debian's 6.1 cloud-amd64 and amd64 kernels put
    some names' copies in another order (s_next of trace_events.c is position 3 on
    cloud-amd64, 4 on amd64, in 6.1.192-3). A klp symbol converted on one, checked on
    the other, is refused with the position that names its copy there."""
    dbs, releases = {}, {}
    for name in ("cloud-amd64", "amd64"):
        env = realdata_or_skip(name)
        dbs[name], releases[name] = tmp_path / f"{name}.klp", env["KVER"]
        klp("symdb", "build", "--vmlinux", env["VMLINUX"], "-o", str(dbs[name]))
    name, pos, file, moved_to = _moved_copy(dbs["cloud-amd64"], dbs["amd64"])
    elf = ElfFile.open(fixture_patch)
    klp_symbol = f".klp.sym.vmlinux.{name},{pos}"
    rename_symbols({".klp.sym.vmlinux.fixture_state,2": klp_symbol})(elf)
    patch = tmp_path / "moved.ko"
    elf.write(patch)
    doc = verify(patch, dbs["amd64"], dbs["cloud-amd64"], check=4)
    assert f"{dbs['cloud-amd64']} describes release {releases['cloud-amd64']} and the target " \
           f"{releases['amd64']}: --converted-with compares two builds of one release" \
           in doc["warnings"]
    [moved] = [p for p in doc["problems"] if p["symbol"] == klp_symbol]
    assert f"but named the function of {file} on {dbs['cloud-amd64']}" in moved["message"]
    assert moved["message"].endswith(f"on the target it is .klp.sym.vmlinux.{name},{moved_to}: "
                                     "convert the module again against the target's database")


def _moved_copy(built: pathlib.Path, target: pathlib.Path) -> tuple[str, int, str, int]:
    """A vmlinux function whose copies both builds have from distinct files, at another
    position on the target: its name, position on ``built``, file, position on ``target``."""
    def functions(db: pathlib.Path) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        data = set()
        for record in SymbolDB(str(db)):
            if record.obj != "vmlinux":
                break
            if record.count > 1:
                found.setdefault(record.name, []).append(record.file)
                if record.letter not in "tT":
                    data.add(record.name)
        return {name: files for name, files in found.items() if name not in data}

    before, after = functions(built), functions(target)
    for name in sorted(before.keys() & after.keys(), key=lambda n: (n != "s_next", n)):
        files = before[name]
        if sorted(files) == sorted(after[name]) and len(set(files)) == len(files) \
                and files != after[name]:
            file = next(f for f, g in zip(files, after[name], strict=True) if f != g)
            return name, files.index(file) + 1, file, after[name].index(file) + 1
    pytest.skip("the two builds put every function's copies in the same order")


def test_an_object_the_build_lacks_is_said_once(fixture_patch: pathlib.Path,
                                               dbs: dict[str, pathlib.Path],
                                               tmp_path: pathlib.Path) -> None:
    vmlinux_only = tmp_path / "vmlinux.klp"
    klp("symdb", "build", "--vmlinux", str(TESTDATA / "x86_64" / "vmlinux"), "-o",
        str(vmlinux_only))
    doc = verify(fixture_patch, dbs["x86_64"], vmlinux_only, check=0)
    assert [w for w in doc["warnings"] if "fixture_mod" in w] == [
        f"{vmlinux_only} has no object fixture_mod, so what the patch named in it cannot be "
        "compared"]
