"""README.md's layout table: the map a newcomer reads must name every module of the package."""

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
