"""The package installs with pip from its folder without an index (no build isolation), typed."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support import PACKAGE_DIR


@pytest.mark.skipif(importlib.util.find_spec("pip") is None, reason="pip is not installed for this interpreter")
def test_pip_installs_the_package_offline(tmp_path: Path) -> None:
    # A copy, so the build leaves nothing in the source tree.
    source = tmp_path / "source"
    shutil.copytree(PACKAGE_DIR, source, ignore=shutil.ignore_patterns("tests", "build", "*.egg-info", "__pycache__"))
    target = tmp_path / "site"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-build-isolation", "--no-deps", "--no-index",
         "--disable-pip-version-check", "--target", str(target), str(source)],
        env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (target / "celeryactors" / "py.typed").is_file()
    check = subprocess.run(
        [sys.executable, "-c", "import celeryactors, celeryactors.metrics, celeryactors.worker; "
                               "print(celeryactors.__file__, celeryactors.__version__)"],
        env=dict(env, PYTHONPATH=str(target)), capture_output=True, text=True, timeout=60, cwd=str(tmp_path))
    assert check.returncode == 0, check.stderr
    location, version = check.stdout.split()
    assert Path(location).parent == target / "celeryactors" and version == "0.1.0"
