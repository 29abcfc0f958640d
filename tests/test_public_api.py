"""The public surface: small, sorted, typed; transitions and hypothesis stay inside."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import imflow

SRC = Path(imflow.__file__).parent


def public_modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages([str(SRC)], prefix="imflow."):
        if info.name.startswith("imflow.contrib.django."):
            continue  # need a configured Django: tests/test_django_example.py imports them
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return sorted(names)


def test_the_top_level_api_is_small_and_sorted() -> None:
    out = subprocess.run(
        [sys.executable, "-c", "import imflow; print(imflow.__all__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    names = ast.literal_eval(out)
    assert names == sorted(names)
    assert len(names) < 60
    assert {"Engine", "Case", "Rejected", "Reason", "Workflow", "Actor"} <= set(names)
    for name in names:
        assert getattr(imflow, name) is not None


def test_every_public_module_has_a_sorted_all_of_existing_names() -> None:
    for name in public_modules():
        module = importlib.import_module(name)
        exported = getattr(module, "__all__", None)
        assert exported is not None, f"{name} has no __all__"
        for item in exported:
            assert hasattr(module, item), f"{name}.__all__ names missing {item}"
        assert module.__doc__, f"{name} has no docstring"


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_only_the_private_machine_module_imports_transitions() -> None:
    users = sorted(
        str(p.relative_to(SRC)) for p in SRC.rglob("*.py") if "transitions" in imports_of(p)
    )
    assert users == ["_machine.py"]


def test_hypothesis_is_imported_only_by_the_testing_package() -> None:
    users = sorted(
        str(p.relative_to(SRC)) for p in SRC.rglob("*.py") if "hypothesis" in imports_of(p)
    )
    assert users
    assert all(u.startswith("testing/") for u in users)


def test_the_package_is_typed() -> None:
    assert (SRC / "py.typed").exists()


def test_importing_imflow_does_not_configure_logging_or_start_threads() -> None:
    code = (
        "import threading, structlog, logging\n"
        "before = threading.active_count()\n"
        "import imflow\n"
        "from imflow import Engine\n"
        "Engine()\n"
        "assert not structlog.is_configured(), 'structlog configured'\n"
        "assert logging.getLogger().handlers == [], 'logging configured'\n"
        "assert threading.active_count() == before\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
