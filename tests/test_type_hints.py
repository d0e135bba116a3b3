"""Every service and selector signature is typed (issue 12, item 7): each function of every
`services.py` and `selectors.py` of the project, at any depth, annotates each parameter and its
return, and a service's acting user (`by` / `user`) is annotated as a user.

Read from the source (the AST), so a module that fails to import still gets checked, and nothing
here depends on what the annotations evaluate to.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULE_NAMES = ("services.py", "selectors.py")
NOT_PROJECT = {".venv", "tests", "bench", "node_modules", "artifacts", "media", "static", "staticfiles"}
ACTING_USER = ("by", "user")


def project_modules() -> list[Path]:
    found = []
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT).parts
        if path.name in MODULE_NAMES and not any(p in NOT_PROJECT or p.startswith(".") for p in parts[:-1]):
            found.append(path)
    return sorted(found)


def _functions(tree: ast.Module) -> list[tuple[ast.FunctionDef | ast.AsyncFunctionDef, bool]]:
    """Every function at any depth, with whether it is a method (its first parameter is then self/cls)."""
    out = []

    def visit(node: ast.AST, in_class: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                out.append((child, in_class))
                visit(child, False)
            elif isinstance(child, ast.ClassDef):
                visit(child, True)
            else:
                visit(child, in_class)

    visit(tree, False)
    return out


def _parameters(function: ast.FunctionDef | ast.AsyncFunctionDef, is_method: bool) -> list[ast.arg]:
    a = function.args
    params = [*a.posonlyargs, *a.args, *a.kwonlyargs, *(p for p in (a.vararg, a.kwarg) if p is not None)]
    is_static = any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in function.decorator_list)
    if is_method and not is_static and params and params[0].arg in ("self", "cls"):
        params = params[1:]
    return params


def _names_a_user(annotation: ast.expr) -> bool:
    """`User`, `AbstractBaseUser`, `AbstractBaseUser | AnonymousUser`, `"User" | None`, …"""
    names = [n.id for n in ast.walk(annotation) if isinstance(n, ast.Name)]
    names += [n.attr for n in ast.walk(annotation) if isinstance(n, ast.Attribute)]
    names += [
        part
        for n in ast.walk(annotation)
        if isinstance(n, ast.Constant) and isinstance(n.value, str)
        for part in n.value.replace("|", " ").replace(".", " ").split()
    ]
    return any(name.endswith("User") for name in names)


def signature_problems(source: str) -> list[str]:
    """What a module's signatures lack, one line each (`line name: …`)."""
    problems = []
    for function, is_method in _functions(ast.parse(source)):
        where = f"{function.lineno} {function.name}"
        params = _parameters(function, is_method)
        unannotated = [p.arg for p in params if p.annotation is None]
        if unannotated:
            problems.append(f"{where}: parameters without a type: {', '.join(unannotated)}")
        if function.returns is None:
            problems.append(f"{where}: no return type")
        for p in params:
            if p.arg in ACTING_USER and p.annotation is not None and not _names_a_user(p.annotation):
                problems.append(f"{where}: the acting user `{p.arg}` is typed {ast.unparse(p.annotation)}, not a user")
    return problems


def test_it_finds_the_service_and_selector_modules():
    found = {str(p.relative_to(ROOT)) for p in project_modules()}
    assert {
        "policies/services.py",
        "policies/selectors.py",
        "priorauth/selectors.py",
        "priorauth/fhir/services.py",
    } <= found


@pytest.mark.parametrize("module", project_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_service_and_selector_signature_is_typed(module: Path):
    problems = signature_problems(module.read_text(encoding="utf-8"))
    assert not problems, f"{module.relative_to(ROOT)}:\n" + "\n".join(problems)


def test_it_reports_an_untyped_parameter_return_and_acting_user():
    source = (
        "def request_submit(*, request, by) -> None: ...\n"
        "def typed(*, request: int, by: AbstractBaseUser) -> None: ...\n"
        "def no_return(x: int): ...\n"
        "def acting(*, by: int) -> None: ...\n"
        "def optional(*, user: 'User | None' = None, **extra: object) -> None: ...\n"
        "def outer(a: int) -> int:\n"
        "    def inner(b):\n"
        "        return b\n"
        "    return a\n"
        "class Result:\n"
        "    def method(self, n: int) -> int: ...\n"
        "    @staticmethod\n"
        "    def static(self) -> None: ...\n"
        "def star(*args, **kwargs: int) -> None: ...\n"
    )
    assert signature_problems(source) == [
        "1 request_submit: parameters without a type: request, by",
        "3 no_return: no return type",
        "4 acting: the acting user `by` is typed int, not a user",
        "7 inner: parameters without a type: b",
        "7 inner: no return type",
        "13 static: parameters without a type: self",
        "14 star: parameters without a type: args",
    ]
