"""What may import what (ARCHITECTURE.md): every import inside `zuoxi/` goes to a package of the same or a
lower layer, except the few edges listed below with their reasons; the installed package never imports the
project's tooling (training_models/, eval/, bench/, tests/)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "zuoxi"

# ARCHITECTURE.md's table, lowest first. A new package or top-level module must be given a layer here.
LAYERS = {
    # 0 foundation: the types passed between stages, text normalization, masking, Chinese messages
    "zuoxi": 0,
    "model": 0,
    "messages": 0,
    "normalize": 0,
    "privacy": 0,
    # 1 reading and judging one conversation
    "ingest": 1,
    "audio": 1,
    "analyze": 1,
    "rules": 1,
    # 2 one conversation end to end
    "pipeline": 2,
    # 3 persistence: every query
    "store": 3,
    # 4 what is built on stored results, and batch engines
    "engines": 4,
    "report": 4,
    "review": 4,
    "queues": 4,
    "campaigns": 4,
    "effects": 4,
    "coaching": 4,
    # 5 front ends
    "web": 5,
    "cli": 5,
}

# Upward edges that are deliberate. Each says why; a new one needs the same.
ALLOWED_UPWARD = {
    ("store", "queues"): "the store owns every query: store/queues.py reads and writes the queues' types, and "
    "storing a result raises its complaint alerts",
    ("store", "effects"): "the store owns every query: store/effects.py builds the effects' observations",
    ("store", "campaigns"): "the store owns every query: store/campaigns.py reads and writes the campaigns' types",
}

TOOLING = ("training_models", "eval", "bench", "tests")
# The store owns every query: the front ends and the reports call its functions, never SQL or its tables.
NO_QUERIES = ("web", "cli", "report", "campaigns", "coaching", "review")
QUERY_MODULES = ("sqlalchemy", "zuoxi.store.tables")
TYPES_ONLY = ("sqlalchemy.engine",)  # the Engine type a route is handed


def imports_of(path: Path) -> list[tuple[int, str]]:
    """Every absolute import in the file, at any depth (an import inside a function is a dependency too)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "zuoxi":
                found += [(node.lineno, f"zuoxi.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, node.module))
    return found


def unit(module: str) -> str:
    """The layer unit of a dotted module: `zuoxi.rules.engine` → rules, `zuoxi.__version__` → zuoxi."""
    parts = module.split(".")
    if len(parts) == 1:
        return "zuoxi"
    return parts[1] if parts[1] in LAYERS else "zuoxi"


def edges() -> dict[tuple[str, str], list[str]]:
    found: dict[tuple[str, str], list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        source = unit(".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts))
        for line, module in imports_of(path):
            if module.split(".")[0] != "zuoxi":
                continue
            target = unit(module)
            if target != source:
                found.setdefault((source, target), []).append(f"{path.relative_to(PACKAGE.parent)}:{line}")
    return found


def test_every_package_has_a_layer():
    units = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    units |= {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    assert units - set(LAYERS) == set(), "give the new package a layer in LAYERS and ARCHITECTURE.md"
    assert set(LAYERS) - units - {"zuoxi"} == set(), "a package in LAYERS no longer exists"


def test_imports_go_down_the_layers():
    upward = {
        (source, target): where
        for (source, target), where in edges().items()
        if LAYERS[target] > LAYERS[source] and (source, target) not in ALLOWED_UPWARD
    }
    assert upward == {}, "an import goes up a layer (ARCHITECTURE.md): " + "; ".join(
        f"{s} → {t} at {', '.join(w)}" for (s, t), w in upward.items()
    )


def test_every_allowed_exception_is_still_needed():
    found = edges()
    assert [edge for edge in ALLOWED_UPWARD if edge not in found] == []


def test_the_installed_package_never_imports_the_tooling():
    offending = [
        f"{path.relative_to(PACKAGE.parent)}:{line} imports {module}"
        for path in PACKAGE.rglob("*.py")
        for line, module in imports_of(path)
        if module.split(".")[0] in TOOLING
    ]
    assert offending == []


def modules_of(unit: str) -> list[Path]:
    """The files of a package, or the one file of a top-level module (review → zuoxi/review.py)."""
    folder = PACKAGE / unit
    return sorted(folder.rglob("*.py")) if folder.is_dir() else [PACKAGE / f"{unit}.py"]


def test_front_ends_and_reports_leave_queries_to_the_store():
    offending = [
        f"{path.relative_to(PACKAGE.parent)}:{line} imports {module}"
        for package in NO_QUERIES
        for path in modules_of(package)
        for line, module in imports_of(path)
        if module.startswith(QUERY_MODULES) and not module.startswith(TYPES_ONLY)
    ]
    assert offending == [], "add the query to zuoxi/store/ and call it"


def test_the_checker_sees_an_upward_import(tmp_path):
    """The rule can fail: an import from a front end inside a foundation module is caught."""
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from zuoxi.web import create_app\n    return create_app\n", encoding="utf-8")
    (line, module) = imports_of(sample)[0]
    assert (line, unit(module)) == (2, "web") and LAYERS[unit(module)] > LAYERS["model"]
