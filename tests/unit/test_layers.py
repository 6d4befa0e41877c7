"""The layers point one way: a reading of the imports finds none that runs back up.

runtime (connection, settings, logs) knows nothing of the review; workflow code imports
only its own modules, the message models of `signals` and its pure signature checks;
activities never import the CLI or the history tools.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from runtime.settings import PROJECT_ROOT

# package -> top-level packages of ours it must never import
FORBIDDEN: dict[str, set[str]] = {
    "runtime": {"workflows", "activities", "signals", "cli", "history", "worker", "starter"},
    "workflows": {"runtime", "activities", "cli", "history", "worker", "starter"},
    "activities": {"cli", "history", "worker", "starter", "signals"},
    "signals": {"cli", "history", "worker", "starter", "activities", "runtime.devserver"},
    "evaluation": {"cli", "worker", "starter"},
}
# Within signals, workflows may import the message models and the pure signature checks.
WORKFLOWS_MAY_USE_FROM_SIGNALS = {"signals.messages", "signals.signing"}


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at any depth of the file (lazy imports count too)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def files_of(package: str) -> list[Path]:
    return sorted((PROJECT_ROOT / package).glob("*.py"))


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_module_imports_from_a_layer_above_it(package: str) -> None:
    """No module imports a package above its own layer, lazy imports included."""
    wrong = []
    for path in files_of(package):
        for module in imported_modules(path):
            top = module.split(".")[0]
            if top in FORBIDDEN[package] or module in FORBIDDEN[package]:
                wrong.append(f"{path.relative_to(PROJECT_ROOT)} imports {module}")
    assert [] == wrong


def test_workflow_code_uses_only_the_message_models_of_signals() -> None:
    """Workflow code imports nothing from `signals` but its message models and signing."""
    wrong = [
        f"{path.relative_to(PROJECT_ROOT)} imports {module}"
        for path in files_of("workflows")
        for module in imported_modules(path)
        if module.startswith("signals") and module not in WORKFLOWS_MAY_USE_FROM_SIGNALS
    ]
    assert [] == wrong
