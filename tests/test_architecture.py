"""Imports run one way (README, "Architecture"): priorauth.letters → priorauth (the requests) →
policies → coverage. Read from the source with `ast`, so an import inside a function counts as
much as one at the top of a module, and nothing is imported to find out.

The front doors may import anything: priorauth/urls.py, priorauth/pages/, priorauth/fhir/ (the
Da Vinci PAS app, whose request bundle encloses the signed letter), the management commands
(priorauth/management/), priorauth/apps.py (which connects the letters' signal receivers when the
app is ready) and config/.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

LETTERS = "priorauth.letters"
# Modules of priorauth that may import the letters package (the front doors and the app's wiring).
LETTERS_MAY_BE_IMPORTED_BY = ("priorauth/letters/", "priorauth/pages/", "priorauth/fhir/", "priorauth/management/")
LETTERS_MAY_BE_IMPORTED_BY_FILES = ("priorauth/urls.py", "priorauth/apps.py")
# The one import of the letters by the core: Django loads an app's models from its `models` module.
MODELS_REGISTRATION = ("priorauth/models.py", "priorauth.letters.models")

# The letters' models that core modules still read, through priorauth.models (the same classes):
# the send step checks the packet it records, the dashboards' queues and the physician's digest
# count letters awaiting signature, and the letter reads sit beside the request reads they filter
# by. Exactly these: a new one fails, and so does one removed without being struck off here.
LETTER_MODELS_STILL_READ_BY_THE_CORE = {
    "priorauth/notifications.py": {"Letter", "LetterStatus"},
    "priorauth/queues.py": {"Letter", "LetterKind", "LetterStatus"},
    "priorauth/selectors.py": {"Letter", "LetterRevision", "FaxPacket"},
    "priorauth/services.py": {"FaxPacket"},
}


def imports_of(source: str, *, module: str) -> Iterator[tuple[int, str]]:
    """(line, dotted name) of everything a module's source imports. `from a import b` yields both
    `a` and `a.b`, since b may be a module (`from priorauth import letters`)."""
    package = module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the module's own package
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join(parts + ([node.module] if node.module else []))
            yield node.lineno, base
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def python_files(top: str) -> Iterator[tuple[str, str]]:
    """(path relative to the repository, dotted module name) of each source file under `top`."""
    for path in sorted((ROOT / top).rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        module = relative[: -len(".py")].replace("/", ".").removesuffix(".__init__")
        yield relative, module


def violations(top: str, forbidden: tuple[str, ...]) -> list[str]:
    found = []
    for relative, module in python_files(top):
        for line, name in imports_of((ROOT / relative).read_text(encoding="utf-8"), module=module):
            if any(within(name, package) for package in forbidden):
                found.append(f"{relative}:{line} imports {name}")
    return sorted(set(found))


def test_it_finds_every_kind_of_import():
    source = (
        "import policies.models\n"
        "from config import settings\n"
        "def f():\n"
        "    from priorauth import letters\n"
        "from . import engine\n"
        "from ..letters.models import Letter\n"
    )
    names = [name for _, name in imports_of(source, module="priorauth.pages.views")]
    assert "policies.models" in names and "config.settings" in names and "priorauth.letters" in names
    assert "priorauth.pages.engine" in names
    assert "priorauth.letters.models.Letter" in names


def test_coverage_imports_nothing_of_the_project():
    assert violations("coverage", ("policies", "priorauth", "config")) == []


def test_policies_import_nothing_of_the_prior_authorization_app():
    assert violations("policies", ("priorauth",)) == []


def test_only_the_front_doors_import_the_letters_package():
    found = []
    for relative, module in python_files("priorauth"):
        if relative.startswith(LETTERS_MAY_BE_IMPORTED_BY) or relative in LETTERS_MAY_BE_IMPORTED_BY_FILES:
            continue
        for line, name in imports_of((ROOT / relative).read_text(encoding="utf-8"), module=module):
            if relative == MODELS_REGISTRATION[0] and within(name, MODELS_REGISTRATION[1]):
                continue  # the registration import (and the names it lists)
            if within(name, LETTERS):
                found.append(f"{relative}:{line} imports {name}")
    assert found == []


def test_the_models_registration_import_is_at_the_end_of_priorauth_models():
    tree = ast.parse((ROOT / "priorauth/models.py").read_text(encoding="utf-8"))
    last = tree.body[-1]
    assert isinstance(last, ast.ImportFrom) and last.module == MODELS_REGISTRATION[1]
    imports = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and within(n.module or "", LETTERS)]
    assert imports == [last]


def test_the_core_reads_only_the_letter_models_it_is_known_to():
    letter_models = {
        node.name
        for node in ast.parse((ROOT / "priorauth/letters/models.py").read_text(encoding="utf-8")).body
        if isinstance(node, ast.ClassDef | ast.FunctionDef)
    }
    read: dict[str, set[str]] = {}
    for relative, module in python_files("priorauth"):
        if relative.startswith(LETTERS_MAY_BE_IMPORTED_BY) or relative in (
            *LETTERS_MAY_BE_IMPORTED_BY_FILES,
            MODELS_REGISTRATION[0],
        ):
            continue
        for _, name in imports_of((ROOT / relative).read_text(encoding="utf-8"), module=module):
            if name.startswith("priorauth.models.") and name.rsplit(".", 1)[1] in letter_models:
                read.setdefault(relative, set()).add(name.rsplit(".", 1)[1])
    assert read == LETTER_MODELS_STILL_READ_BY_THE_CORE
