"""Every test states in its docstring the behaviour it proves; a reading of the tests checks."""

from __future__ import annotations

import ast
from pathlib import Path

from runtime.settings import PROJECT_ROOT

TESTS = PROJECT_ROOT / "tests"


def undocumented(source: str, filename: str) -> list[str]:
    """`file:line name` of each test function, at any depth, with no docstring or a blank one."""
    tests = [
        node
        for node in ast.walk(ast.parse(source, filename=filename))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name.startswith("test_")
    ]
    return [
        f"{filename}:{node.lineno} {node.name}"
        for node in sorted(tests, key=lambda node: node.lineno)
        if not (ast.get_docstring(node) or "").strip()
    ]


def test_every_test_function_has_a_docstring() -> None:
    """Each test_* function in tests/**/test_*.py opens with a docstring; any without is named."""
    files = sorted(TESTS.rglob("test_*.py"))

    missing = [
        name
        for path in files
        for name in undocumented(path.read_text(), str(path.relative_to(PROJECT_ROOT)))
    ]

    assert Path(__file__).resolve() in [f.resolve() for f in files]
    assert [] == missing, "tests without a docstring:\n" + "\n".join(missing)


def test_the_reading_names_tests_without_a_docstring() -> None:
    """A comment, a blank string or a string after the first statement is no docstring."""
    source = '''
def test_documented():
    """Proves something."""

async def test_commented():
    # a comment is not a docstring
    assert True

def test_blank():
    """  """

def test_late():
    x = 1
    """Too late to be a docstring."""

class TestGroup:
    def test_method(self):
        pass

def helper():
    pass
'''

    assert [
        "t.py:5 test_commented",
        "t.py:9 test_blank",
        "t.py:12 test_late",
        "t.py:17 test_method",
    ] == undocumented(source, "t.py")
