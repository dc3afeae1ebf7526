"""The packages are layers: each imports only the ones below it (docs/architecture.md).

A package may import ``core`` and the packages listed before it, never one listed
after it, and never another package's routes (its ``api``/``pages`` modules). Only
the top (``web``, the command line, the demo and the modules that gather every
table or timer handler) imports everything.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.database_free

SRC = Path(__file__).resolve().parents[1] / "src" / "xiaoer"

# Lowest first. ``http`` (request helpers: the signed-in account, pages, words, charts)
# sits above ``staff`` because it loads the signed-in account.
LAYERS = (
    "core",
    "shops",
    "staff",
    "http",
    "buyers",
    "catalog",
    "reception",
    "assistant",
    "orders",
    "sellercentre",
    "aftersales",
    "fulfilment",
    "mail",
    "customers",
    "performance",
    "peakday",
)
TOP = {
    "web",
    "cli",
    "demo",
    "demo_data",
    "demo_aftersales",
    "demo_fulfilment",
    "demo_customers",
    "demo_peakday",
    "timer_handlers",
    "all_models",
    "__main__",
    "__init__",
}
NOT_CODE = {"migrations"}  # Alembic's versions import nothing of ours but ``core``


def _route_module(name: str) -> bool:
    return name in ("api", "pages") or name.endswith(("_api", "_pages"))


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every ``xiaoer`` import in a file, lazy ones included.

    ``from xiaoer.orders import api`` counts as ``xiaoer.orders.api``: it names a module.
    """
    tree = ast.parse(path.read_text("utf-8"), str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module != "xiaoer" and not node.module.startswith("xiaoer."):
                continue
            depth = node.module.count(".")
            for alias in node.names:
                # Below a package (depth < 2) an imported name may be a module.
                name = f"{node.module}.{alias.name}" if depth < 2 else node.module
                found.append((node.lineno, name))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("xiaoer.")]
    return sorted(set(found))


def layer_problems(src: Path) -> list[str]:
    problems = []
    for path in sorted(src.rglob("*.py")):
        parts = path.relative_to(src).parts
        package = parts[0].removesuffix(".py")
        if package in TOP or package in NOT_CODE:
            continue
        if package not in LAYERS:
            problems.append(f"{'/'.join(parts)}: package {package!r} has no place in LAYERS")
            continue
        for line, module in imports_of(path):
            names = module.split(".")
            target = names[1]
            where = f"{'/'.join(parts)}:{line} imports {module}"
            if target in TOP:
                problems.append(f"{where}: only the top imports {target}")
            elif target not in LAYERS:
                continue  # a module of a package that is itself checked
            elif LAYERS.index(target) > LAYERS.index(package):
                problems.append(f"{where}: {target} sits above {package}")
            elif target != package and len(names) > 2 and _route_module(names[2]):
                problems.append(f"{where}: another package's routes")
    return problems


def test_no_package_imports_upward() -> None:
    assert layer_problems(SRC) == []


def test_every_package_has_a_layer() -> None:
    packages = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages - set(LAYERS) - TOP - NOT_CODE == set()


def test_an_upward_import_is_found(tmp_path: Path) -> None:
    """The walk itself: a reception module importing orders, or web, fails it."""
    (tmp_path / "reception").mkdir()
    (tmp_path / "reception" / "panel.py").write_text(
        "from xiaoer.orders.models import Order\n"
        "def f():\n"
        "    from xiaoer.web import app\n"
        "    from xiaoer.reception import service\n"
    )
    (tmp_path / "orders").mkdir()
    (tmp_path / "orders" / "x.py").write_text("from xiaoer.assistant import api\n")
    (tmp_path / "lost").mkdir()
    (tmp_path / "lost" / "y.py").write_text("")
    problems = layer_problems(tmp_path)
    assert problems == [
        "lost/y.py: package 'lost' has no place in LAYERS",
        "orders/x.py:1 imports xiaoer.assistant.api: another package's routes",
        "reception/panel.py:1 imports xiaoer.orders.models: orders sits above reception",
        "reception/panel.py:3 imports xiaoer.web.app: only the top imports web",
    ]
