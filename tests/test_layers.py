"""The package's layers (README "Layout"): each imports only the layers below it, nothing imports
the command line, and each heavy or terminal-facing library stays in the one layer that needs it.

The rule is checked on the source files with :mod:`ast`, every ``import`` counted wherever it
stands (inside functions and ``TYPE_CHECKING`` blocks too), so a lazy upward import fails as
surely as one at the top. A second test shows the check failing on a deliberate violation.
"""

from __future__ import annotations

import ast
import graphlib
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Bottom first. ``mqlsim/__init__.py`` re-exports the API, so it sits with it.
LAYERS: tuple[str, ...] = (
    "core",
    "policies",
    "scenario",
    "model",
    "experiments",
    "render",
    "api",
    "cli",
)
#: Third-party packages that only one layer may import.
ONLY_IN: dict[str, str] = {
    "simpy": "model",
    "matplotlib": "render",
    "rich": "cli",
    "argparse": "cli",
}


def package_sources() -> dict[str, str]:
    """Every module of the package by its installed name: ``sim/`` is ``mqlsim``, ``policies/``
    is ``mqlsim.policies``."""
    sources = {}
    for folder, package in ((ROOT / "sim", "mqlsim"), (ROOT / "policies", "mqlsim.policies")):
        for path in sorted(folder.rglob("*.py")):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            sources[".".join([package, *parts])] = path.read_text(encoding="utf-8")
    return sources


def layer_of(module: str) -> str:
    """The layer of an ``mqlsim`` module."""
    parts = module.split(".")
    if len(parts) == 1:
        return "api"
    if parts[1] in ("api", "__main__"):
        return "api" if parts[1] == "api" else "cli"
    return parts[1]


def imports(module: str, sources: Mapping[str, str]) -> Iterator[tuple[str, int, bool]]:
    """``(imported module, line, at module level)`` for every import in ``module``'s source;
    relative imports are resolved against its package."""
    tree = ast.parse(sources[module])
    top_level = {id(node) for node in tree.body}
    is_package = any(other.startswith(f"{module}.") for other in sources)
    package = module if is_package else module.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno, id(node) in top_level
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            for alias in node.names:  # ``from mqlsim import api`` imports mqlsim.api
                submodule = f"{name}.{alias.name}"
                yield (
                    submodule if submodule in sources else name,
                    node.lineno,
                    id(node) in top_level,
                )


def violations(sources: Mapping[str, str]) -> list[str]:
    """Every import that breaks the layer rule or the third-party rule, as ``module:line: why``."""
    found = []
    for module in sources:
        layer = layer_of(module)
        rank = LAYERS.index(layer)
        for name, line, _ in imports(module, sources):
            top = name.split(".")[0]
            if top in ONLY_IN and ONLY_IN[top] != layer:
                found.append(f"{module}:{line}: imports {top}, allowed only in {ONLY_IN[top]}")
            if top != "mqlsim" or name not in sources:
                continue
            target = layer_of(name)
            if target == "cli" and layer != "cli":
                found.append(f"{module}:{line}: imports {name}; nothing imports the cli")
            elif LAYERS.index(target) > rank:
                found.append(f"{module}:{line}: {layer} imports {name} of the {target} layer above")
    return list(dict.fromkeys(found))


def module_graph(sources: Mapping[str, str]) -> dict[str, set[str]]:
    """Which package modules each module imports when it is imported (module-level imports)."""
    return {
        module: {name for name, _, top in imports(module, sources) if top and name in sources}
        - {module}
        for module in sources
    }


def test_the_layers_are_the_folders() -> None:
    packages = {path.parent.name for path in (ROOT / "sim").glob("*/__init__.py")}
    assert packages | {"policies", "api"} == set(LAYERS)


def test_each_layer_imports_only_the_layers_below_it() -> None:
    assert violations(package_sources()) == []


def test_no_import_cycle() -> None:
    graphlib.TopologicalSorter(module_graph(package_sources())).prepare()


@pytest.mark.parametrize(
    ("module", "line", "why"),
    [
        ("mqlsim.core.bad", "from mqlsim.model.engine import run_replication", "layer above"),
        ("mqlsim.render.bad", "import mqlsim.cli.terminal", "nothing imports the cli"),
        ("mqlsim.experiments.bad", "import matplotlib", "allowed only in render"),
        ("mqlsim.scenario.bad", "def f():\n    import simpy", "allowed only in model"),
        ("mqlsim.policies.bad", "from ..scenario import models", "layer above"),
    ],
)
def test_the_check_catches_a_deliberate_violation(module: str, line: str, why: str) -> None:
    sources = {**package_sources(), module: f"{line}\n"}
    found = violations(sources)
    assert len(found) == 1 and found[0].startswith(f"{module}:") and why in found[0]


def test_the_cycle_check_catches_a_deliberate_cycle() -> None:
    sources = {
        **package_sources(),
        "mqlsim.core.first": "import mqlsim.core.second\n",
        "mqlsim.core.second": "from mqlsim.core import first\n",
    }
    with pytest.raises(graphlib.CycleError):
        graphlib.TopologicalSorter(module_graph(sources)).prepare()
