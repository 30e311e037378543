"""schemathesis against GET /api/openapi.json of a real server (slow: CI runs it).

Every declared route and every method, from the document alone, in tokens mode with an
admin token, a viewer token and none, and in open mode: no answer is a 5xx, every status
is one the route declares, every body has its declared shape and media type, an
undeclared method is a 405 naming the right ones, a missing or bad token is refused
where a role is declared (schemathesis's ``--checks all``). A failure prints
schemathesis's report with a curl line that reproduces it.

Where a body valid by its schema may still be refused by what the twin holds, the
config below lets the route answer as it does (an action or a recording that does not
exist: 400 ``invalid_value``; readings of sensors the scene lacks: 422).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import running, wait_healthy

from twin.serving.access import TokenStore
from twin.serving.server import create_app

pytestmark = pytest.mark.slow

#: test cases per operation and phase, and a fixed seed: a failure reproduces
EXAMPLES = 20
SEED = 13

CONFIG = """
# Bodies valid by their schema that name what this twin does not hold: an action or a
# recording (400 invalid_value), sensors (422 readings_rejected).
[[operations]]
include-path = ["/api/actions", "/api/replay", "/api/readings"]
include-method = "POST"
checks.positive_data_acceptance.expected-statuses = ["2xx", 400, 401, 403, 404, 409, 422]

# Rules between parameters a schema cannot say: a range's from before its to, at most ten years.
[[operations]]
include-path-regex = "^/api/history/"
checks.positive_data_acceptance.expected-statuses = ["2xx", 400, 401, 403, 404]
"""


@pytest.fixture(scope="module")
def twins(tmp_path_factory):
    """Two toy twins on real uvicorns: one in tokens mode (admin and viewer tokens), one open."""
    import toyplugin

    from twin.authoring.testing import Harness

    root = tmp_path_factory.mktemp("schemathesis")
    store = TokenStore(root / "tokens-data")
    tokens = {role: store.add(role, role)[1] for role in ("admin", "viewer")}

    def builder(name):
        def build():
            h = Harness(root / name, plugins=[toyplugin], blocks=(2, 2))
            h.act("toy.open_tap", "T-001", rate=0.5)  # an alarm for the routes that read one
            return h.engine
        return build

    locked = create_app(builder("locked"), speed=10.0, data_dir=root / "tokens-data")
    open_ = create_app(builder("open"), speed=10.0, data_dir=root / "open-data")
    with running(locked.app) as locked_url, running(open_.app) as open_url:
        wait_healthy(locked_url)
        wait_healthy(open_url)
        config = root / "schemathesis.toml"
        config.write_text(CONFIG, encoding="utf-8")
        yield {"locked": locked_url, "open": open_url, "tokens": tokens, "config": config, "root": root}


def schemathesis(twins, url: str, *args: str) -> None:
    command = [sys.executable, "-m", "schemathesis.cli", "--no-color", "--config-file", str(twins["config"]), "run",
               f"{url}/api/openapi.json", "--checks", "all", "--workers", "1", "--seed", str(SEED),
               "--max-examples", str(EXAMPLES), "--request-timeout", "30", "--suppress-health-check", "all",
               "--report", "junit", "--report-dir", str(Path(twins["root"]) / "report"), *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=1200, cwd=twins["root"])
    assert done.returncode == 0, f"schemathesis found failures ({' '.join(args) or 'no token'}):\n{done.stdout[-20000:]}\n{done.stderr[-3000:]}"
    assert "Tested:" in done.stdout, done.stdout[-3000:]


def test_with_an_admin_token(twins):
    schemathesis(twins, twins["locked"], "--header", f"Authorization: Bearer {twins['tokens']['admin']}")


def test_with_a_viewer_token(twins):
    schemathesis(twins, twins["locked"], "--header", f"Authorization: Bearer {twins['tokens']['viewer']}")


def test_without_a_token(twins):
    schemathesis(twins, twins["locked"])


def test_in_open_mode(twins):
    # Nobody needs a token here: that the API takes requests without one is the point.
    schemathesis(twins, twins["open"], "--exclude-checks", "ignored_auth")
