"""Numba's on-disk cache of the drainage kernels is keyed on every file of the package
(twin_drainage._numba_cache): a kernel whose callee lives in another file of the package
is recompiled when only that file changes, instead of loading stale machine code."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from twin_drainage import _numba_cache

CALLER = """from numba import njit
{guard}
from probe_pkg.callee import value


@njit(cache=True)
def kernel():
    return value() + 1
"""
CALLEE = """from numba import njit
{guard}

@njit(cache=True)
def value():
    return {number}
"""


def _run(root: Path, cache: Path) -> int:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache), "PYTHONPATH": str(root)}
    out = subprocess.run([sys.executable, "-c", "from probe_pkg.caller import kernel; print(kernel())"], env=env,
                         capture_output=True, text=True, timeout=300, check=True)
    return int(out.stdout.split()[-1])


def _package(root: Path, guarded: bool, number: int) -> None:
    pkg = root / "probe_pkg"
    pkg.mkdir(parents=True, exist_ok=True)
    (pkg / "__init__.py").write_text("", encoding="utf-8")
    shutil.copy(Path(_numba_cache.__file__), pkg / "_numba_cache.py")
    guard = "from probe_pkg import _numba_cache  # noqa: F401" if guarded else ""
    (pkg / "caller.py").write_text(CALLER.format(guard=guard), encoding="utf-8")
    (pkg / "callee.py").write_text(CALLEE.format(guard=guard, number=number), encoding="utf-8")


@pytest.mark.slow
@pytest.mark.parametrize("guarded", [True, False], ids=["package key", "numba's own key"])
def test_editing_a_callee_recompiles_its_caller(tmp_path, guarded):
    """With the package's key the edit shows (41 + 1, then 42 + 1); with numba's own key,
    the caller's cached entry keeps the old callee: the defect this module fixes."""
    _package(tmp_path / "src", guarded, 41)
    assert _run(tmp_path / "src", tmp_path / "cache") == 42
    _package(tmp_path / "src", guarded, 42)
    assert _run(tmp_path / "src", tmp_path / "cache") == (43 if guarded else 42)

