"""The suite's own shape: test modules share code through tests/support, never by importing
one another (a test module imported elsewhere runs its tests twice and couples the two)."""

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
TEST_PACKAGES = ("tests.unit", "tests.integration", "tests.e2e")


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_no_test_module_imports_another() -> None:
    crossing = {
        str(path.relative_to(TESTS)): sorted(
            name for name in imported_modules(path) if name.startswith(TEST_PACKAGES)
        )
        for path in TESTS.rglob("*.py")
    }
    assert {path: names for path, names in crossing.items() if names} == {}
