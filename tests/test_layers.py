"""Dependencies point one way: every import of a project module goes to a lower layer (or
stays inside its own package). Read from the source with `ast`, nothing is imported."""

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

# Lowest first. A package may import its own modules and any package of a lower layer; the
# packages of one layer do not import each other. Entry points (train.py, inference.py,
# calc_metrics.py, the modules directly in src/ run as `python -m src.<name>`, scripts/ and
# bench/) sit above them all.
LAYERS = [
    {"utils"},
    {"text_encoder"},
    {"model", "loss", "metrics", "transforms", "logger"},
    {"datasets"},
    {"decoding", "lm"},
    {"trainer"},
    {"transcription"},
    {"web"},
]
ENTRY = len(LAYERS)
RANK = {package: rank for rank, packages in enumerate(LAYERS) for package in packages}


def layer_of(module: str) -> tuple[int, str]:
    """('src.trainer.setup') -> (rank, 'trainer'); modules directly under src/ are entries."""
    parts = module.split(".")
    if len(parts) >= 3 and parts[1] in RANK:
        return RANK[parts[1]], parts[1]
    if len(parts) >= 2 and parts[1] in RANK:  # the package itself (src.trainer)
        return RANK[parts[1]], parts[1]
    return ENTRY, module


def project_imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found += [(node.lineno, name) for name in names if name.split(".")[0] == "src"]
    return found


SOURCES = sorted((REPO_ROOT / "src").rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_imports_point_down(path):
    module = ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts)
    module = module.removesuffix(".__init__")
    rank, package = layer_of(module)
    for line, imported in project_imports(path):
        imported_rank, imported_package = layer_of(imported)
        if imported_package == package:
            continue
        assert imported_rank < rank, (
            f"{path.relative_to(REPO_ROOT)}:{line} imports {imported}: layer {imported_rank} "
            f"({imported_package}) is not below layer {rank} ({package})"
        )


def test_every_package_has_a_layer():
    packages = {p.name for p in (REPO_ROOT / "src").iterdir() if (p / "__init__.py").is_file()}
    assert packages == set(RANK)
