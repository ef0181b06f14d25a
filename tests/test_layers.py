"""The layers import only downward: text/records <- ingest <- index <- answer <- service <- faces."""

from __future__ import annotations

import ast
from pathlib import Path

from qa.settings import PROJECT_ROOT

# Lowest first. A module may import its own layer or any layer below it, never one above.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("qa.text", "qa.records"),
    ("qa.ingest",),
    ("qa.index",),
    ("qa.answer",),
    ("qa.settings", "qa.service", "qa.evaluation", "qa.feedback"),
    ("qa.api", "qa.cli", "qa.__main__"),
)


def layer_of(module: str) -> int | None:
    """The layer number of a `qa` module (None for `qa` itself and modules outside the package)."""
    for number, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return number
    return None


def module_name(path: Path, root: Path) -> str:
    """qa/answer/retrieve.py -> qa.answer.retrieve (a package's __init__ is the package)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, name: str) -> list[str]:
    """Every `qa` module a file imports, at the top or inside functions, relative imports resolved."""
    found = []
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.append(base)
            found += [f"{base}.{alias.name}" for alias in node.names]
    return [m for m in found if m == "qa" or m.startswith("qa.")]


def upward_imports(root: Path) -> list[str]:
    """'importer -> imported' for every import of a higher layer under `root` (the folder holding qa/)."""
    problems = []
    for path in sorted((root / "qa").rglob("*.py")):
        name = module_name(path, root)
        own = layer_of(name)
        if own is None:
            continue
        for target in imported_modules(path, name):
            theirs = layer_of(target)
            if theirs is not None and theirs > own:
                problems.append(f"{name} -> {target}")
    return problems


def test_every_module_belongs_to_a_layer():
    root = PROJECT_ROOT
    names = [module_name(p, root) for p in (root / "qa").rglob("*.py")]
    assert [n for n in names if n != "qa" and layer_of(n) is None] == []


def test_no_module_imports_a_layer_above_its_own():
    assert upward_imports(PROJECT_ROOT) == []


def test_the_check_catches_an_upward_import(tmp_path):
    (tmp_path / "qa" / "index").mkdir(parents=True)
    (tmp_path / "qa" / "__init__.py").write_text("")
    (tmp_path / "qa" / "index" / "__init__.py").write_text("")
    (tmp_path / "qa" / "index" / "build.py").write_text(
        "def late():\n    from qa.answer.retrieve import retrieve\n    return retrieve\n"
    )
    (tmp_path / "qa" / "index" / "store.py").write_text("from ..service import QAService\n")
    assert upward_imports(tmp_path) == [
        "qa.index.build -> qa.answer.retrieve",
        "qa.index.build -> qa.answer.retrieve.retrieve",
        "qa.index.store -> qa.service",
        "qa.index.store -> qa.service.QAService",
    ]
