"""``twin plugin new``: the project it writes installs, passes its own tests, loads
through its entry point and runs in a city; bad names and occupied folders are refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from twin.authoring.scaffold import ScaffoldError, new_plugin

EXPECTED_FILES = {
    "pyproject.toml",
    "README.md",
    "twin_water/__init__.py",
    "twin_water/plugin.py",
    "twin_water/model.py",
    "twin_water/generate.py",
    "tests/test_water.py",
}


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("NUMBA_CACHE_DIR", str(tmp_path / "numba-cache"))
    env.pop("TWIN_PLUGINS", None)
    env.update(extra)
    return env


def _run(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=300, **kwargs)  # type: ignore[call-overload]


def test_project_has_the_layout_of_a_built_in_plugin(tmp_path: Path) -> None:
    root = new_plugin("water", tmp_path / "twin-water")
    assert root == tmp_path / "twin-water"
    written = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    assert written == EXPECTED_FILES
    meta = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    assert meta["project"]["name"] == "twin-water"
    deps = {d.split(">")[0].split("=")[0].strip() for d in meta["project"]["dependencies"]}
    assert deps == {"lifeline-twin", "numpy", "numba"}
    assert meta["project"]["entry-points"]["twin.plugins"] == {"water": "twin_water.plugin"}
    for path in root.rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            # Every placeholder filled, every docs marker left out of the user's project.
            assert "$" not in text, f"{path}: unfilled placeholder"
            assert "[docs:" not in text, f"{path}: docs marker left in"
            if path.suffix == ".py":
                compile(text, str(path), "exec")
    kernel_module = (root / "twin_water" / "model.py").read_text(encoding="utf-8")
    assert "@njit(cache=True, nogil=True)" in kernel_module and "piecewise_risk" in kernel_module


def test_another_name_gives_a_working_plugin_without_installing(tmp_path: Path) -> None:
    # The template must be right for any valid name, not only for "water": run the
    # tests of a project whose name has an underscore and a digit, from its folder.
    root = new_plugin("district_heat2", tmp_path / "twin-district_heat2")
    assert (root / "twin_district_heat2" / "plugin.py").is_file()
    result = _run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"],
        cwd=root, env=_env(tmp_path, PYTHONPATH=str(root)),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout


@pytest.mark.parametrize("name", ["Water", "1water", "water-supply", "", "water supply", "wäter", "_water", "class"])
def test_invalid_name_is_refused_with_what_would_be_valid(tmp_path: Path, name: str) -> None:
    with pytest.raises(ScaffoldError) as info:
        new_plugin(name, tmp_path / "out")
    message = str(info.value)
    assert repr(name) in message
    assert "[a-z][a-z0-9_]*" in message or "keyword" in message
    assert not (tmp_path / "out").exists()  # nothing written


def test_existing_folder_is_never_overwritten(tmp_path: Path) -> None:
    target = tmp_path / "twin-water"
    target.mkdir()
    (target / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(ScaffoldError, match="not empty") as info:
        new_plugin("water", target)
    assert str(target) in str(info.value)
    assert [p.name for p in target.iterdir()] == ["notes.txt"]
    assert (target / "notes.txt").read_text(encoding="utf-8") == "mine"

    a_file = tmp_path / "a-file"
    a_file.write_text("", encoding="utf-8")
    with pytest.raises(ScaffoldError, match="not a directory"):
        new_plugin("water", a_file)

    empty = tmp_path / "empty"
    empty.mkdir()
    assert (new_plugin("water", empty) / "pyproject.toml").is_file()  # an empty folder is fine


def test_cli_plugin_new_writes_the_project_and_refuses_a_bad_name(tmp_path: Path) -> None:
    twin = [sys.executable, "-m", "twin.cli"]
    result = _run([*twin, "plugin", "new", "water", str(tmp_path / "w")], env=_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert str(tmp_path / "w") in result.stdout
    assert (tmp_path / "w" / "twin_water" / "plugin.py").is_file()
    bad = _run([*twin, "plugin", "new", "Water"], cwd=tmp_path, env=_env(tmp_path))
    assert bad.returncode != 0
    assert "[a-z][a-z0-9_]*" in bad.stderr
    assert not (tmp_path / "twin-Water").exists()


ENTRY_POINT_RUN = """
import json, sys
from pathlib import Path
from twin.plugins.registry import load_registry
from twin.authoring.testing import Harness

registry = load_registry()
info = registry.plugins["water"]
h = Harness(Path(sys.argv[1]), entry_points=True)
watched = h.plan.sensors[0]["asset"]
h.run(30)
calm = [a.asset for a in h.alarms()]
h.act("water.burst", watched, flow=0.05)
h.run(60)
print(json.dumps({
    "plugins": sorted(registry.plugins), "status": info.status, "reason": info.reason,
    "version": info.version, "hooks": info.hooks, "domains": sorted(h.registry.domains),
    "calm": calm, "alarms": [[a.asset, a.rule, a.level] for a in h.alarms()], "watched": watched,
}))
"""


@pytest.mark.slow  # pip installs the project
def test_installed_plugin_passes_its_tests_and_runs_through_its_entry_point(tmp_path: Path) -> None:
    root = new_plugin("water", tmp_path / "twin-water")
    pip = [sys.executable, "-m", "pip"]
    install = _run([*pip, "install", "--no-deps", "--no-build-isolation", "-e", str(root)], env=_env(tmp_path))
    try:
        assert install.returncode == 0, install.stdout + install.stderr

        own_tests = _run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"], cwd=root, env=_env(tmp_path))
        assert own_tests.returncode == 0, own_tests.stdout + own_tests.stderr
        assert "4 passed" in own_tests.stdout

        # A fresh interpreter finds the plugin the way `twin serve` does: by entry point.
        env = _env(tmp_path, TWIN_PLUGINS="water")
        run = _run([sys.executable, "-c", ENTRY_POINT_RUN, str(tmp_path / "city")], cwd=tmp_path, env=env)
        assert run.returncode == 0, run.stdout + run.stderr
        got = json.loads(run.stdout.strip().splitlines()[-1])
        assert got["plugins"] == ["water"]
        assert (got["status"], got["reason"], got["version"]) == ("active", "", "0.1.0")
        assert set(got["hooks"]) == {
            "twin_domains", "twin_updaters", "twin_kernels", "twin_alarm_rules",
            "twin_actions", "twin_viewer_styles", "twin_asset_generators",
        }
        assert got["domains"] == ["water"]
        assert got["calm"] == []
        assert [a[:2] for a in got["alarms"]] == [[got["watched"], "water.low_pressure"]]
        assert got["alarms"][0][2] >= 3  # orange or red

        # The commands a plugin author runs next.
        twin = [sys.executable, "-m", "twin.cli"]
        data = ["--data", str(tmp_path / "data")]
        listed = _run([*twin, "plugins", *data], cwd=tmp_path, env=env)
        assert listed.returncode == 0, listed.stderr
        assert "water 0.1.0  active" in listed.stdout
        made = _run([*twin, "generate", str(tmp_path / "scene"), "--assets", "100", *data], cwd=tmp_path, env=env)
        assert made.returncode == 0, made.stderr
        checked = _run([*twin, "check", str(tmp_path / "scene"), *data], cwd=tmp_path, env=env)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "water" in checked.stdout and "junction" in checked.stdout
        assert "quarantined" not in checked.stdout
    finally:
        _run([*pip, "uninstall", "-y", "twin-water"], env=_env(tmp_path))


# -- installed beside the built-ins -----------------------------------------------------------
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def water_beside_builtins(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The scaffold installed beside the built-in plugins, as a user's ``pip install``
    would, but into a folder of its own on PYTHONPATH: other tests sharing this venv never
    see it. Returns that folder's parent and the environment that finds it."""
    tmp = tmp_path_factory.mktemp("water-installed")
    root = new_plugin("water", tmp / "twin-water")
    site = tmp / "site"
    install = _run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(site), str(root)],
                   env=_env(tmp))
    assert install.returncode == 0, install.stdout + install.stderr
    return tmp, _env(tmp, PYTHONPATH=str(site), TWIN_DATA=str(tmp / "data"))


def _demo_copy(where: Path) -> Path:
    demo = where / "demo"
    demo.mkdir()
    (demo / "scene.toml").write_text((ROOT / "scenes" / "demo" / "scene.toml").read_text(encoding="utf-8"), encoding="utf-8")
    return demo  # its data files are generated on first load, here and not in the checkout


def test_an_installed_plugin_does_not_break_the_demo_that_does_not_list_it(water_beside_builtins, tmp_path: Path) -> None:
    _, env = water_beside_builtins
    twin = [sys.executable, "-m", "twin.cli"]
    demo = _demo_copy(tmp_path)
    checked = _run([*twin, "check", str(demo)], env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    out = checked.stdout
    assert "  water             0 assets  (none)" in out
    assert "  gas " in out and "ok: " in out
    # said once, with the lines that take the domain in
    assert out.count("domain 'water'") == 1 and "lists no [[assets]] of it" in out
    lines = [line.strip() for line in out.splitlines()]
    at = lines.index("[[assets]]")
    assert lines[at : at + 3] == ["[[assets]]", 'domain = "water"', 'file = "data/water.geojson"']
    assert not (demo / "data" / "water.geojson").exists()


@pytest.mark.slow
def test_the_lines_twin_check_suggests_take_the_plugin_into_the_demo(water_beside_builtins, tmp_path: Path) -> None:
    _, env = water_beside_builtins
    twin = [sys.executable, "-m", "twin.cli"]
    demo = _demo_copy(tmp_path)
    lines = [line.strip() for line in _run([*twin, "check", str(demo)], env=env).stdout.splitlines()]
    at = lines.index("[[assets]]")
    with (demo / "scene.toml").open("a", encoding="utf-8") as handle:
        handle.write("\n" + "\n".join(lines[at : at + 3]) + "\n")
    again = _run([*twin, "check", str(demo)], env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "junction" in again.stdout and "domain 'water'" not in again.stdout
    sensors = (demo / "data" / "sensors.csv").read_text(encoding="utf-8")
    assert "WATER-PT-0000,WATER-J-0000,pressure_head" in sensors  # its loggers came with it


@pytest.mark.slow
def test_an_installed_plugin_does_not_break_serving_the_demo(water_beside_builtins, tmp_path: Path) -> None:
    import httpx
    from conftest import free_port, wait_healthy

    _, env = water_beside_builtins
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        server = subprocess.Popen([sys.executable, "-m", "twin.cli", "serve", str(_demo_copy(tmp_path)), "--port", str(port)],
                                  env=env, stdout=out, stderr=out)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            health = wait_healthy(client, 120, log=log)
            assert health["plugins"] == {"bridge": "active", "drainage": "active", "gas": "active", "tunnel": "active",
                                         "water": "active"}
            assert client.get("/api/scene").json()["domains"]["water"]["assets"] == 0
    finally:
        server.terminate()
        server.wait(timeout=30)
    said = [json.loads(line) for line in log.read_text().splitlines() if "domain 'water'" in line]
    assert len(said) == 1 and said[0]["level"] == "warning" and 'domain = "water"' in said[0]["add"]
