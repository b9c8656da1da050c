"""Dependencies flow one way: a module imports only from its own layer or the layers below it (imports inside
functions and under TYPE_CHECKING count too). docs/architecture.md states the same rule."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"api": "imgcheck", "infer": "imgcheck.infer", "export": "imgcheck.export", "trainer": "imgcheck.trainer"}

# Bottom to top. A module belongs to the first layer (most specific prefix wins) whose prefix it starts with.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("core", ("imgcheck.infer",)),  # the top-level modules of imgcheck.infer (errors, meta, preprocess, ...)
    ("core", ("imgcheck.infer.provenance",)),
    ("models", ("imgcheck.infer.models",)),
    ("runtime", ("imgcheck.infer.runtime",)),
    ("evaluate", ("imgcheck.infer.evaluate",)),
    ("scan", ("imgcheck.infer.scan",)),
    ("export", ("imgcheck.export",)),
    ("trainer", ("imgcheck.trainer",)),
    ("bench", ("imgcheck.infer.bench",)),
    ("api", ("imgcheck.infer.api", "imgcheck")),
    ("cli", ("imgcheck.infer.cli", "imgcheck.infer.__main__", "imgcheck.__main__")),
]
RANK = {"core": 0, "models": 1, "runtime": 2, "evaluate": 3, "scan": 4, "export": 4, "trainer": 4, "bench": 5,
        "api": 6, "cli": 7}


def layer_of(module: str) -> str:
    """The layer of a dotted module name (the longest matching prefix)."""
    best, length = None, -1
    for name, prefixes in LAYERS:
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > length:
                best, length = name, len(prefix)
    if best is None:
        raise ValueError(f"{module} is in no layer")
    return best


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    rest = [part for part in parts[1:] if part != "__init__"]
    return ".".join([FOLDERS[parts[0]], *rest])


def imports_of(path: Path) -> list[tuple[str, int]]:
    """Every imgcheck module the file at `path` imports (absolute or relative, anywhere in it), with its line."""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    return imports_in(path.read_text(encoding="utf-8"), package)


def imports_in(text: str, package: list[str]) -> list[tuple[str, int]]:
    """Every imgcheck module a source `text` in `package` imports, with its line."""
    found = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ImportFrom):
            base = ".".join(package[:len(package) - node.level + 1] + [node.module or ""]) if node.level \
                else node.module or ""
            names = [f"{base}.{alias.name}" for alias in node.names]
            targets = [base.rstrip(".")] + names
        elif isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            continue
        for target in targets:
            if target == "imgcheck" or target.startswith("imgcheck."):
                found.append((target, node.lineno))
                break  # one target per statement: the module itself (names may be attributes)
    return found


def sources() -> list[Path]:
    return sorted(p for folder in FOLDERS for p in (ROOT / folder).rglob("*.py"))


def violations() -> list[str]:
    broken = []
    for path in sources():
        here = layer_of(module_name(path))
        for target, line in imports_of(path):
            there = layer_of(target)
            upward = RANK[there] > RANK[here]
            sideways = RANK[there] == RANK[here] and there != here  # scan, export and trainer are peers
            if upward or sideways:
                broken.append(f"{path.relative_to(ROOT)}:{line} ({here}) imports {target} ({there})")
    return broken


def test_every_import_looks_down() -> None:
    assert violations() == []


def test_every_module_has_a_layer() -> None:
    for path in sources():
        assert layer_of(module_name(path))


@pytest.mark.parametrize(("module", "layer"), [
    ("imgcheck.infer.meta", "core"), ("imgcheck.infer.provenance.read", "core"),
    ("imgcheck.infer.models.architectures", "models"), ("imgcheck.infer.scan.job", "scan"),
    ("imgcheck.infer.cli.scan", "cli"), ("imgcheck", "api"), ("imgcheck.export.foreign", "export"),
])
def test_layer_of(module: str, layer: str) -> None:
    assert layer_of(module) == layer


def test_the_check_sees_an_upward_import() -> None:
    """The walk catches a runtime module importing the CLI inside a function, relative imports included."""
    text = "def f():\n    from imgcheck.infer.cli.options import quiet_option\n    from ..scan import job\n"
    targets = [target for target, _ in imports_in(text, ["imgcheck", "infer", "runtime"])]
    assert targets == ["imgcheck.infer.cli.options", "imgcheck.infer.scan"]
    assert [layer_of(t) for t in targets] == ["cli", "scan"]
