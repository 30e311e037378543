"""Numba's on-disk cache, keyed on every source file of this package instead of one.

Numba keys a cached kernel on the hash of the file that defines it. A kernel of
model.py that calls kinwave.route_kinwave, regulators.regulator_flow or a function of
sections.py carries their machine code in its own cache entry, so after an edit of
kinwave.py alone, model.py's entry would still load, with the old router in it. Here a
kernel defined in this package is keyed on the hash of all the package's ``.py`` files:
an edit of any of them recompiles every kernel of the package once, and nothing stale
is loaded. Kernels elsewhere keep numba's own key.

Importing this module installs the locators; every module of the package that makes a
kernel imports it before its first ``@njit(cache=True)`` (not the package's
``__init__``, so that importing the plugin does not import numba before the command
line has set NUMBA_CACHE_DIR).
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from numba.core import caching

PACKAGE = Path(__file__).resolve().parent


def _is_ours(py_file: str) -> bool:
    try:
        return Path(py_file).resolve().parent == PACKAGE
    except OSError:
        return False


def package_stamp() -> bytes:
    """sha256 over the names and contents of the package's source files, in name order
    (hashed again only when a file's size or time changes, as numba does for one file)."""
    files = sorted(PACKAGE.glob("*.py"))
    return _stamp(tuple((str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in files))


@lru_cache(maxsize=8)
def _stamp(files: tuple) -> bytes:
    digest = hashlib.sha256()
    for name, _, _ in files:
        path = Path(name)
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.digest()


class _PackageStamp:
    """Mixin: the package's stamp for a kernel defined in it (else no locator)."""

    def get_source_stamp(self):  # noqa: D102 - numba's locator API
        return package_stamp()

    @classmethod
    def from_function(cls, py_func, py_file):  # noqa: D102 - numba's locator API
        if not _is_ours(py_file):
            return None
        return super().from_function(py_func, py_file)


class UserProvidedLocator(_PackageStamp, caching.UserProvidedCacheLocator):
    """NUMBA_CACHE_DIR set: numba's folder, the package's stamp."""


class InTreeLocator(_PackageStamp, caching.InTreeCacheLocator):
    """No NUMBA_CACHE_DIR: ``__pycache__`` beside the source, the package's stamp."""


def install() -> None:
    """Put the package's locators first in numba's list (once)."""
    classes = caching.CacheImpl._locator_classes
    for cls in (InTreeLocator, UserProvidedLocator):
        if cls not in classes:
            classes.insert(0, cls)


install()
