"""The layout a newcomer reads: README.md's table names every module of the package; a test file's section headers
each head a section."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _layout_rows() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("\n## Layout\n")
    end = text.index("\n## ", start + 1)
    return [line for line in text[start:end].splitlines() if line.startswith("| `") or line.startswith("| **`")]


def test_the_layout_table_names_every_module():
    named: set[str] = set()
    for line in _layout_rows():
        package = re.search(r"`(\w+)/`", line.split("|")[1])  # a sub-package's row names its modules bare
        for module in re.findall(r"`([\w/]+\.py)`", line):
            named.add(module)
            if package and "/" not in module:
                named.add(f"{package.group(1)}/{module}")
    package_dir = ROOT / "pytest_infperf"
    modules = {p.relative_to(package_dir).as_posix() for p in package_dir.rglob("*.py") if p.name != "__init__.py"}
    # the backends row names the backends as a family ("torch, onnxruntime, TensorRT-family backends")
    modules = {m for m in modules if not re.fullmatch(r"backends/\w+_backend\.py", m)}
    assert sorted(modules - named) == []


_SECTION = re.compile(r"^# -{2,}.*\S")


def test_no_test_file_ends_with_an_empty_section():
    """A section header left behind when its tests moved (test_json_files ended with "verdict keys")."""
    found = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        code = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        if code and _SECTION.match(code[-1]):
            found.append(f"{path.relative_to(ROOT)}: {code[-1]}")
    assert found == []


def test_test_files_have_unique_basenames():
    """tests/ has no __init__.py (rootdir-relative imports): two test files of one name in unit/ and e2e/ stop
    collection with "import file mismatch" (CI did, with unit/ and e2e/test_storage.py)."""
    names: dict[str, list[str]] = {}
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        names.setdefault(path.name, []).append(path.relative_to(ROOT).as_posix())
    assert {name: paths for name, paths in names.items() if len(paths) > 1} == {}
