"""One direction of flow: every project module imports only the layers below it (docs/CONTRACTS.md).

A layer is a top-level module (the design card's entry points) together with the package it fronts, e.g.
data_feed.py + feed/. The table is the architecture; a new module must be placed in it, or this test fails.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# layer -> the files it is made of (a module, or a package directory)
LAYER_FILES: dict[str, tuple[str, ...]] = {
    "core": ("core",),
    "config": ("config.py",),
    "feed": ("data_feed.py", "feed"),
    "database": ("database.py", "storage"),
    "collector": ("collector.py", "collection"),
    "analytics": ("analytics.py", "quant"),
    "visualizations": ("visualizations.py", "charts"),
    "service": ("service",),
    "dashboard": ("dashboard",),
    "api": ("api",),
    "app": ("app.py",),
}
# layer -> the layers it may import. feed → collector → database is the flow of ticks; the collector drives the
# database, so it sits above it. analytics and visualizations are pure (no storage, no UI, no settings).
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "config": {"core"},
    "feed": {"core"},
    "database": {"core", "feed"},
    "collector": {"core", "config", "feed", "database"},
    "analytics": {"core"},
    "visualizations": {"core"},
    # What both UIs do, with neither Streamlit nor HTTP: the window model, jobs, actions.
    "service": {"core", "config", "feed", "database", "collector", "analytics"},
    # The two UIs stand on the service layer side by side and never import each other.
    "dashboard": {"core", "config", "feed", "database", "collector", "analytics", "visualizations", "service"},
    "api": {"core", "config", "feed", "database", "collector", "analytics", "visualizations", "service"},
    # app.py serves both: the Streamlit page script, the API's routes and its middleware.
    "app": {"core", "config", "collector", "service", "dashboard", "api"},
}
# The `if __name__ == "__main__":` block of an entry-point script is its process's composition root: it may import
# these layers besides its own layer's (collector.py's starts the watch monitor of the service layer beside the
# collector). Nothing else in the file may, and no module imports the block.
ENTRY_BLOCKS: dict[str, set[str]] = {"collector.py": {"service"}}
# Only the storage layer talks SQL: everything above it goes through database.py's functions and types.
SQL_LIBRARIES = {"sqlite3", "psycopg"}
# third-party imports a pure layer must not use
FORBIDDEN_LIBRARIES: dict[str, set[str]] = {
    "core": {"streamlit", "pandas", "plotly"} | SQL_LIBRARIES,
    "config": SQL_LIBRARIES,
    "feed": {"streamlit", "plotly"} | SQL_LIBRARIES,
    "collector": {"streamlit", "plotly"} | SQL_LIBRARIES,
    "analytics": {"streamlit", "plotly"} | SQL_LIBRARIES,
    "visualizations": {"streamlit", "statsmodels", "sklearn"} | SQL_LIBRARIES,
    "service": {"streamlit", "plotly", "starlette", "fastapi"} | SQL_LIBRARIES,
    "dashboard": SQL_LIBRARIES,
    "api": {"streamlit"} | SQL_LIBRARIES,
    "app": SQL_LIBRARIES,
}


def _module_layer() -> dict[str, str]:
    """Top-level importable name -> layer (data_feed and feed are both the feed layer)."""
    names = {}
    for layer, files in LAYER_FILES.items():
        for name in files:
            names[name.removesuffix(".py")] = layer
    return names


def _files(layer: str) -> list[Path]:
    out: list[Path] = []
    for name in LAYER_FILES[layer]:
        path = ROOT / name
        out += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return [p for p in out if p.exists()]


def _is_entry_block(node: ast.AST) -> bool:
    """`if __name__ == "__main__":` at a module's top level."""
    test = node.test if isinstance(node, ast.If) else None
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in test.comparators)
    )


def _module_tree(path: Path, entry_block: bool = False) -> ast.Module:
    """A file's syntax tree without its entry block (`entry_block=True`: only that block)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    tree.body = [node for node in tree.body if _is_entry_block(node) == entry_block]
    return tree


def _imports(path: Path, entry_block: bool = False) -> set[str]:
    """Top-level names of every absolute import in a file outside its entry block (`entry_block=True`: inside it);
    relative imports stay inside its package."""
    tree = _module_tree(path, entry_block)
    names = {
        alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    names |= {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0
    }
    return names


def test_every_project_module_belongs_to_a_layer() -> None:
    placed = {p.resolve() for layer in LAYER_FILES for p in _files(layer)}
    top = [p for p in ROOT.glob("*.py")]
    packages = [p for d in ROOT.iterdir() if d.is_dir() and (d / "__init__.py").exists() for p in d.rglob("*.py")]
    unplaced = sorted(str(p.relative_to(ROOT)) for p in top + packages if p.resolve() not in placed)
    assert not unplaced, f"add these to LAYER_FILES in tests/test_layering.py: {unplaced}"


@pytest.mark.parametrize("layer", list(LAYER_FILES))
def test_layer_imports_only_layers_below_it(layer: str) -> None:
    owner = _module_layer()
    problems = []
    for path in _files(layer):
        for name in _imports(path):
            target = owner.get(name)
            if target is not None and target != layer and target not in ALLOWED[layer]:
                problems.append(f"{path.relative_to(ROOT)} imports {name} ({target} layer)")
            if name in FORBIDDEN_LIBRARIES.get(layer, set()):
                problems.append(f"{path.relative_to(ROOT)} imports {name}, which the {layer} layer must not use")
    assert not problems, "; ".join(problems)


def test_entry_blocks_import_only_their_composition_layers() -> None:
    owner, problems = _module_layer(), []
    for layer in LAYER_FILES:
        for path in _files(layer):
            name = str(path.relative_to(ROOT))
            allowed = ALLOWED[layer] | ENTRY_BLOCKS.get(name, set())
            problems += [
                f"{name}'s entry block imports {imported} ({owner[imported]} layer)"
                for imported in _imports(path, entry_block=True)
                if owner.get(imported, layer) not in allowed | {layer}
            ]
    assert not problems, "; ".join(problems)


def _prints_outside_main(node: ast.AST) -> bool:
    """True when a print() call appears outside a function named main (a CLI's own messages to its user)."""
    if isinstance(node, ast.FunctionDef) and node.name == "main":
        return False
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
        return True
    return any(_prints_outside_main(child) for child in ast.iter_child_nodes(node))


def test_no_print_in_library_code() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for layer in LAYER_FILES
        for path in _files(layer)
        if _prints_outside_main(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert not offenders, f"use logging, not print(): {offenders}"


def test_dashboard_and_api_never_import_each_other() -> None:
    """The two UIs share only what lies below them (service and lower): a change to one cannot break the other."""
    for layer, other in (("dashboard", "api"), ("api", "dashboard")):
        offenders = [str(p.relative_to(ROOT)) for p in _files(layer) if other in _imports(p)]
        assert not offenders, f"{layer} must not import {other}: {offenders}"


def test_the_distribution_ships_every_layer() -> None:
    """pyproject.toml's wheel list names every top-level module and package: a new one left out of it would be
    missing from a non-editable `pip install .`."""
    import tomllib

    shipped = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]["wheel"][
            "only-include"
        ]
    )
    placed = {name for files in LAYER_FILES.values() for name in files}
    assert shipped == placed, f"only-include differs from the layers: {sorted(shipped ^ placed)}"


def _project_modules() -> dict[str, Path]:
    """Dotted name -> file of every project module (tests and benchmarks aside)."""
    out = {}
    for layer in LAYER_FILES:
        for path in _files(layer):
            out[".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")] = path
    return out


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_no_module_uses_another_modules_private_names() -> None:
    """A name another module imports is public: `from m import _x` and `m._x` across modules are refused."""
    modules = _project_modules()
    problems = []
    for me, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        bound: dict[str, str] = {}  # local name -> project module it refers to
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module in modules and node.level == 0:
                for alias in node.names:
                    if f"{node.module}.{alias.name}" in modules:
                        bound[alias.asname or alias.name] = f"{node.module}.{alias.name}"
                    elif _private(alias.name) and node.module != me:
                        problems.append(f"{me} imports {node.module}.{alias.name}")
            elif isinstance(node, ast.Import):
                bound |= {alias.asname or alias.name: alias.name for alias in node.names if alias.name in modules}
        problems += [
            f"{me} uses {bound[node.value.id]}.{node.attr}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute)
            and _private(node.attr)
            and isinstance(node.value, ast.Name)
            and bound.get(node.value.id, me) != me
        ]
    assert not problems, "give these a public name or move them to their one user: " + "; ".join(problems)


def test_no_import_circle() -> None:
    """No module reaches itself through its imports, not even for type hints: the shared piece belongs in the lower
    module (as feed.ws_link below binance_ws, quant.results below pair and verdict)."""
    modules = _project_modules()
    deps: dict[str, set[str]] = {}
    for me, path in modules.items():
        found = set()
        for node in ast.walk(_module_tree(path)):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found |= {
                    f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                    for a in node.names
                }
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
        deps[me] = found & set(modules) - {me}

    circles: list[tuple[str, ...]] = []
    done: set[str] = set()

    def visit(module: str, trail: tuple[str, ...]) -> None:  # depth-first; a module already finished is skipped
        for dep in sorted(deps.get(module, ())):
            if dep in trail:
                circles.append((*trail[trail.index(dep) :], dep))
            elif dep not in done:
                visit(dep, (*trail, dep))
        done.add(module)

    for module in sorted(deps):
        if module not in done:
            visit(module, (module,))
    assert not circles, f"modules importing each other: {sorted(circles)}"
