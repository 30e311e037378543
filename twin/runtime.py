"""Putting a twin together: data folder, Numba cache, plugins, scene, engine.

The command line and the server both start here. The Numba cache must point into the
data folder before the first kernel is made, so :func:`prepare_data_dir` runs before
any plugin is imported.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from typing import Any

import platformdirs

from twin.errors import TwinError

log = logging.getLogger("twin.runtime")
PACKAGE_ROOT = Path(__file__).resolve().parent


def default_data_dir() -> Path:
    return Path(os.environ.get("TWIN_DATA") or platformdirs.user_data_dir("lifeline-twin", appauthor=False))


def prepare_data_dir(data_dir: Path | None) -> Path:
    """Create the data folder, make it private to the user and point Numba's on-disk
    cache into it.

    From here on every file this process creates is the user's alone (0600, folders
    0700: the process umask becomes 0o077), and what the folder already holds is made so.
    """
    path = Path(data_dir) if data_dir is not None else default_data_dir()
    # Alarms with operators' notes, tokens and recordings are nobody else's business. A
    # umask covers every writer (SQLite and its -wal/-shm, the recorder, Numba, the
    # plugins) without each remembering a chmod; it is per process, so it is set here,
    # where every command that touches the data folder starts.
    os.umask(0o077)
    try:
        path.mkdir(parents=True, exist_ok=True)
        _make_private(path)
        (path / "numba-cache").mkdir(exist_ok=True)  # one folder per core_fingerprint() inside
    except OSError as exc:
        raise TwinError(f"data folder {path}: cannot create it ({exc.strerror}); pass --data DIR with a writable folder") from None
    os.environ.setdefault("NUMBA_CACHE_DIR", str(path / "numba-cache" / core_fingerprint()))
    return path


def _make_private(path: Path) -> None:
    """Take group and other permissions off the data folder and all it holds (files
    written before the umask, or by an older twin). Symbolic links are not followed:
    what they point to is not the twin's to change."""
    top = path.stat()
    if top.st_mode & stat.S_ISVTX:
        # a shared folder such as /tmp: making it 0700 would lock every other user out
        raise TwinError(f"data folder {path}: a shared folder (sticky bit, like /tmp); pass --data DIR with a folder of the twin's own")
    names = [str(path)]
    for folder, dirs, files in os.walk(path):
        names.extend(os.path.join(folder, n) for n in dirs + files)
    failed: list[str] = []
    for name in names:
        try:
            mode = os.lstat(name).st_mode
            if not stat.S_ISLNK(mode) and mode & 0o077:
                os.chmod(name, stat.S_IMODE(mode) & ~0o077)
        except FileNotFoundError:
            continue  # removed meanwhile (a -journal SQLite dropped): nothing left to protect
        except OSError as exc:
            failed.append(f"{name} ({exc.strerror})")
    if failed:
        raise TwinError(f"data folder {path}: cannot make {failed[0]} private to this user"
                        + (f" (and {len(failed) - 1} more)" if len(failed) > 1 else "") + "; fix its owner or pass --data DIR")


def core_fingerprint() -> str:
    """Numba keys a kernel's cache on its own file only, but the core's helpers (the
    risk convention) are inlined into every plugin's kernels: a cache folder per version
    of those helpers keeps a core upgrade from running stale compiled code."""
    import hashlib

    return hashlib.sha256((PACKAGE_ROOT / "tick" / "risk.py").read_bytes()).hexdigest()[:12]


def default_scene() -> Path:
    """The demo district: beside the package in a checkout, else in the working folder."""
    for candidate in (PACKAGE_ROOT.parent / "scenes" / "demo", Path.cwd() / "scenes" / "demo"):
        if (candidate / "scene.toml").exists():
            return candidate
    raise TwinError("no demo scene found (looked for scenes/demo/scene.toml beside the package and here); name a SCENE")


class Config(dict[str, Any]):
    """A ``--config`` file's tables, checked against their declaration
    (:class:`twin.tick.config.ConfigFile`); it keeps the file, so that
    :func:`open_twin` can check its ``[thresholds]`` against the plugins with its lines."""

    toml: Any = None


def load_config(path: Path | None) -> dict[str, Any]:
    """The tables of the configuration file at ``path`` ({} for None); TwinError naming
    every problem's line and key, and what would be valid."""
    if path is None:
        return {}
    from twin.declared import check
    from twin.tick.config import ConfigFile
    from twin.tomlfile import TomlFile

    problems: list[str] = []
    toml = TomlFile.read(Path(path), "a configuration file (TOML)", problems)
    if toml is not None:
        check(toml, ConfigFile, problems)
    if problems:
        raise TwinError(problems[0] if len(problems) == 1 else f"{path} has {len(problems)} problems:\n  " + "\n  ".join(problems))
    assert toml is not None
    config = Config(toml.data)
    config.toml = toml
    return config


def check_config(config: dict[str, Any] | None, registry: Any) -> None:
    """Check the ``[thresholds]`` of a configuration read by :func:`load_config` against
    the plugins' parameters: TwinError naming each problem's line and key (a dict from
    elsewhere is checked by the engine, without lines)."""
    if not isinstance(config, Config) or config.toml is None or "thresholds" not in config:
        return
    from twin.declared import check
    from twin.tick.params import thresholds_type

    problems: list[str] = []
    check(config.toml, thresholds_type(registry), problems, keys=("thresholds",))
    if problems:
        raise TwinError(problems[0] if len(problems) == 1 else f"{config.toml.path} has {len(problems)} problems:\n  "
                        + "\n  ".join(problems))


def open_scene(path: Path, registry: Any) -> Any:
    """Load a scene, generating the data files of a ``[generated]`` scene if missing, and
    checking its ``[thresholds]`` against the plugins' parameters."""
    from twin.authoring.citygen import generate_into
    from twin.tick.params import thresholds_type
    from twin.tick.scene import load_scene

    return load_scene(path, registry.domains, generate=lambda root, params, listed: generate_into(root, params, registry, listed),
                      thresholds=thresholds_type(registry))


def left_out(scene: Any, registry: Any) -> list[tuple[str, str]]:
    """(note, TOML that would add it) per installed domain the scene lists no
    ``[[assets]]`` of: its table stays empty, since installing a plugin must never break
    a scene that does not use it; the note tells the scene's author how to take it in."""
    listed = {e.get("domain") for e in scene.config.get("assets", []) if isinstance(e, dict)}
    generated = "generated" in scene.config
    makers = {g.domain for _, g in registry.generators}
    out = []
    for domain in scene.assets:
        if domain in listed:
            continue
        if generated and domain in makers:
            how = "the assets its generator places are left out; to take them in, add"
        else:
            how = "to add it, write its assets as a GeoJSON file (docs/scenes.md) and add"
        note = (f"domain {domain!r} (plugin {registry.domain_owner.get(domain, '?')!r}) is installed but "
                f"{scene.root / 'scene.toml'} lists no [[assets]] of it: {how}")
        out.append((note, f'[[assets]]\ndomain = "{domain}"\nfile = "data/{domain}.geojson"'))
    return out


def open_twin(
    scene_path: Path | None = None,
    data_dir: Path | None = None,
    seed: int = 0,
    config: dict[str, Any] | None = None,
    modules: list[Any] | None = None,
    simulate: bool = True,
    dt: float = 1.0,
    persist: bool = True,
    start: float | None = None,
    live: bool = False,
) -> Any:
    """Registry, scene and engine, ready to tick. The engine's clock starts at ``start``,
    UTC epoch seconds: a live twin passes the wall clock's, and ``live``; None is a
    simulated clock from the scene's ``start`` (a drill passes its own: :func:`open_drill`). A
    ``config`` read by :func:`load_config` has its ``[thresholds]`` checked against the
    plugins with its file's lines."""
    data = prepare_data_dir(data_dir)
    from twin.plugins.registry import load_registry
    from twin.tick.engine import Engine

    registry = load_registry(modules)
    check_config(config, registry)
    scene = open_scene(scene_path or default_scene(), registry)
    for note, toml in left_out(scene, registry):
        log.warning(note, extra={"add": toml})
    return Engine(scene, registry, seed=seed, dt=dt, data_dir=data if persist else None, simulate=simulate, config=config,
                  start=scene.start if start is None else start, live=live)


def open_drill(drill: Any, data_dir: Path | None = None, persist: bool = False, modules: list[Any] | None = None) -> Any:
    """A twin ready to run ``drill`` (:class:`twin.runs.drill.Drill`): its scene, seed,
    tick, configuration and clock start (the drill's ``start``, else its scene's)."""
    from twin.runs.drill import check_against

    engine = open_twin(drill.scene, data_dir, seed=drill.seed, config=drill.config, dt=drill.dt, persist=persist,
                       modules=modules, start=drill.start)
    try:
        check_against(drill, engine)
    except BaseException:
        engine.close()
        raise
    return engine
