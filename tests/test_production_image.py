"""The production image leaves the fake Treeherder out (.dockerignore) and works without it: checked on
a copy of what the Dockerfile's `COPY . .` takes, with `fakeherder` unimportable, without Docker."""

from __future__ import annotations

import fnmatch
import os
import shutil
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
# Run manage.py as the image would, but with the `fakeherder` package unimportable even though this
# virtualenv has it installed (editable).
MANAGE = (
    "import runpy, sys; sys.modules['fakeherder'] = None; sys.argv = ['manage.py', *sys.argv[1:]]; "
    "runpy.run_path('manage.py', run_name='__main__')"
)


def _dockerignore() -> list[str]:
    lines = (BASE_DIR / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _image_tree(target: Path) -> Path:
    """The top-level entries `COPY . .` copies (those no .dockerignore pattern names), copied to `target`."""
    patterns = _dockerignore()
    target.mkdir()
    for entry in BASE_DIR.iterdir():
        if any(fnmatch.fnmatch(entry.name, pattern.removeprefix("**/")) for pattern in patterns):
            continue
        if entry.is_dir():
            shutil.copytree(entry, target / entry.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(entry, target / entry.name)
    return target


def _manage(tree: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "BUILDWATCH_"))},
        "DJANGO_SETTINGS_MODULE": "buildwatch.settings",
        "BUILDWATCH_VAR_DIR": str(tree / "var"),
        "PYTHONPATH": str(tree),
    }
    return subprocess.run(
        [sys.executable, "-c", MANAGE, *args], cwd=tree, env=env, capture_output=True, text=True, timeout=120
    )


def test_the_image_has_no_fake_and_the_app_starts_without_it(tmp_path):
    tree = _image_tree(tmp_path / "app")
    assert not (tree / "fakeherder").exists()
    assert (tree / "pushes").is_dir() and (tree / "manage.py").is_file()

    every_module = (
        "import importlib, pkgutil, accounts, buildwatch, notifications, pushes\n"
        "for package in (buildwatch, accounts, pushes, notifications):\n"
        "    for module in pkgutil.walk_packages(package.__path__, package.__name__ + '.'):\n"
        "        importlib.import_module(module.name)\n"
        "print('imported', package.__name__)"
    )
    imported = _manage(tree, "shell", "-c", every_module)
    assert imported.returncode == 0, imported.stderr
    assert "imported notifications" in imported.stdout

    check = _manage(tree, "check")
    assert check.returncode == 0, check.stderr
    assert "no issues" in check.stdout

    fake = _manage(tree, "fake_treeherder", "--port", "0")
    assert fake.returncode == 1
    assert "the fake Treeherder (the `fakeherder` package) is not installed here" in fake.stderr
    assert "Traceback" not in fake.stderr
