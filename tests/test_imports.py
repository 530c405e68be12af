"""The module boundaries, checked on the source's import statements (ast, not grep): only the HTTP
modules import `requests`, and the apps depend one way: accounts (per-user data) at the bottom imports
neither of the others, pushes may import accounts, notifications may import both; pushes never imports
notifications (its templates load notifications' watch_tags for the Watch buttons, at render time). The
background poller keeps off the pages' cache, and the push pages' presenters do no I/O. Like the purity
check of the pure modules in tests/pushes/test_rules.py, but across the app packages."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APP_PACKAGES = ("buildwatch", "accounts", "pushes", "notifications")
# One HTTP module per upstream (docs: issue 13, item 3); a notification channel is one module of
# notifications/channels/ and makes its own calls.
REQUESTS_ALLOWED = {
    "pushes.treeherder.transport",  # Treeherder's client (pushes/treeherder/) makes its calls there
    "pushes.taskcluster",
    "notifications.channels.webpush.send",  # the POSTs to the push services (pywebpush)
    "notifications.channels.matrix",
    "notifications.channels.matrix_api",  # the Matrix client-server HTTP calls; channels/matrix.py decides
    "buildwatch.oidc",  # the OpenID provider's discovery document (sign-in with SSO)
}
# Calls that import a module named by a string.
DYNAMIC_IMPORTS = {"import_module", "__import__", "import_string"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def app_modules() -> dict[str, Path]:
    """Every module of the app packages but tests and the fake Treeherder (a test and demo tool)."""
    modules = {}
    for package in APP_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).parts
            if "tests" in parts or parts[:2] == ("pushes", "fake"):
                continue
            modules[_module_name(path)] = path
    return modules


def _type_checking_only(tree: ast.AST) -> set[int]:
    """The nodes under `if TYPE_CHECKING:`: imports that name types for annotations and run nothing."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(inner) for stmt in node.body for inner in ast.walk(stmt))
    return skipped


def imported_modules(module: str, path: Path, *, runtime: bool = False) -> set[str]:
    """The absolute names of all modules `module` imports anywhere (also inside functions), with
    relative imports resolved and `from a import b` counted as both `a` and `a.b`; `runtime`: leave
    out the imports under `if TYPE_CHECKING:`."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    tree = ast.parse(path.read_text(), filename=str(path))
    skipped = _type_checking_only(tree) if runtime else set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # `from ..x import y` in a.b.c: a.x (each dot past the first goes up one)
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - (node.level - 1)] + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" if base else alias.name for alias in node.names)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if called in DYNAMIC_IMPORTS and isinstance(node.args[0].value, str):
                names.add(node.args[0].value)
    return {name for name in names if name}


def _top(names: set[str], top: str) -> set[str]:
    return {name for name in names if name == top or name.startswith(top + ".")}


MODULES = app_modules()


def test_the_walk_sees_the_app_and_its_imports() -> None:
    """Guards the checks below against passing because they look at nothing."""
    assert {"pushes.views", "pushes.retrigger", "notifications.views", "buildwatch.urls"} <= MODULES.keys()
    assert {"accounts.models", "accounts.crypto", "accounts.views"} <= MODULES.keys()
    assert not any(name.startswith("fakeherder") for name in MODULES)
    assert "requests" in imported_modules("pushes.taskcluster", MODULES["pushes.taskcluster"])
    # The other direction exists, so the checks below are not vacuous: notifications uses pushes, and
    # both use accounts.
    assert any(
        _top(imported_modules(m, p), "pushes") for m, p in MODULES.items() if m.startswith("notifications.")
    )
    for app in ("pushes", "notifications"):
        assert any(_top(imported_modules(m, p), "accounts") for m, p in MODULES.items() if m.startswith(app))


def test_only_the_http_modules_import_requests() -> None:
    offenders = {
        module: sorted(_top(imported_modules(module, path), "requests"))
        for module, path in MODULES.items()
        if module not in REQUESTS_ALLOWED and _top(imported_modules(module, path), "requests")
    }
    assert offenders == {}, (
        "HTTP belongs in pushes/treeherder/transport.py, pushes/taskcluster.py or a channel module"
    )


def test_the_pushes_app_never_imports_notifications() -> None:
    offenders = {
        module: sorted(_top(imported_modules(module, path), "notifications"))
        for module, path in MODULES.items()
        if module.split(".")[0] == "pushes" and _top(imported_modules(module, path), "notifications")
    }
    assert offenders == {}, "pushes must not depend on notifications (a template may load its tags)"


def test_the_accounts_app_imports_neither_pushes_nor_notifications() -> None:
    offenders = {
        module: sorted(found)
        for module, path in MODULES.items()
        if module.split(".")[0] == "accounts"
        and (
            found := _top(imported_modules(module, path), "pushes")
            | _top(imported_modules(module, path), "notifications")
        )
    }
    assert offenders == {}, "accounts is the bottom app: per-user data and Django's auth, nothing above it"


# The background poller reads Treeherder with its own client and a push's failures through
# pushes.evidence (each failed job's answers, cached by job): the pages' cached reads, what is derived
# from them and what the pages render are not its to read or write.
POLLER_MODULES = {
    "notifications.autowatch",
    "notifications.cycle",
    "notifications.early",
    "notifications.followup",
    "notifications.jobstore",
    "notifications.outbox",
    "notifications.poller",
    "notifications.snapshot",
    "notifications.tasks",
}
PAGE_CACHE_MODULES = (
    "pushes.services",
    "pushes.live",
    "pushes.failure_view",
    "pushes.reads",
    "pushes.fragments",
)


def test_the_background_poller_never_reads_the_pages_cache() -> None:
    assert POLLER_MODULES <= MODULES.keys()
    offenders = {
        module: sorted(
            name for top in PAGE_CACHE_MODULES for name in _top(imported_modules(module, path), top)
        )
        for module, path in MODULES.items()
        if module in POLLER_MODULES
    }
    assert {module: names for module, names in offenders.items() if names} == {}


# A push page reads everything first (pushes.reads), then hands plain data to modules that present it:
# those import nothing that reads or writes (Treeherder, the cache, the database). Their imports under
# `if TYPE_CHECKING:` run nothing: they may name the read side's dataclasses in annotations.
IO_MODULES = (
    "pushes.services",
    "pushes.reads",
    "pushes.cached",
    "pushes.evidence",
    "pushes.fragments",
    "pushes.live",
    "pushes.models",
    "pushes.treeherder",
    "django.core.cache",
    "django.db",
    "requests",
)
PRESENTING_MODULES = {
    "pushes.presenters": IO_MODULES,
    "pushes.answer": IO_MODULES,
    "pushes.jobrows": IO_MODULES,
    "pushes.jobview": IO_MODULES,
    # Reads Treeherder's time stamps (pushes.treeherder.parsing), never Treeherder.
    "pushes.failure_view": tuple(name for name in IO_MODULES if name != "pushes.treeherder")
    + ("pushes.treeherder.client", "pushes.treeherder.transport"),
}


@pytest.mark.parametrize("module", sorted(PRESENTING_MODULES))
def test_presenters_do_no_io(module: str) -> None:
    names = imported_modules(module, MODULES[module], runtime=True)
    assert names, "the parser found no imports at all: the check itself is broken"
    assert sorted(name for top in PRESENTING_MODULES[module] for name in _top(names, top)) == []


def test_type_checking_imports_are_told_apart(tmp_path: Path) -> None:
    path = tmp_path / "module.py"
    path.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .services import X\n")
    assert "pushes.services" in imported_modules("pushes.presenters", path)
    assert "pushes.services" not in imported_modules("pushes.presenters", path, runtime=True)


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("pushes.views", "import requests.adapters", {"requests.adapters"}),
        ("pushes.views", "from requests import Session", {"requests", "requests.Session"}),
        ("pushes.views", "def f():\n    from notifications.models import Watch", {"notifications.models"}),
        ("notifications.channels.email", "from ..models import Watch", {"notifications.models"}),
        ("notifications.channels.email", "from .. import models", {"notifications", "notifications.models"}),
        ("pushes.views", "from . import taskcluster", {"pushes", "pushes.taskcluster"}),
        ("pushes.views", "importlib.import_module('notifications.models')", {"notifications.models"}),
        ("pushes", "from .models import X", {"pushes.models", "pushes.models.X"}),
    ],
)
def test_imports_are_resolved_the_way_python_does(
    tmp_path: Path, module: str, source: str, expected: set[str]
) -> None:
    path = tmp_path / ("__init__.py" if module == "pushes" else "module.py")
    path.write_text(source + "\n")
    names = imported_modules(module, path)
    assert expected <= names
    if "taskcluster" in source:
        assert "taskcluster" not in names  # the sibling module, not the taskcluster package
