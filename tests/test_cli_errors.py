"""Every ``twin`` subcommand meets bad arguments or bad input with a short error and a
non-zero exit, never a raw traceback (issue 13: ``twin tail http://…`` printed one).

Each case runs the real command in a subprocess, as a user would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import free_port, wait_healthy

TWIN = [sys.executable, "-m", "twin.cli"]


def _run(args: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "TWIN_DATA": str(cwd / "data")}
    return subprocess.run([*TWIN, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _files(tmp: Path) -> dict[str, str]:
    (tmp / "garbage.toml").write_text("this is [ not toml\n", encoding="utf-8")
    (tmp / "empty.toml").write_text("", encoding="utf-8")
    (tmp / "notmcap.mcap").write_bytes(b"\x00not an mcap file at all\x00" * 10)
    (tmp / "bad.inp").write_text("[JUNCTIONS]\nJ1 not-a-number\n", encoding="utf-8")
    return {"missing": str(tmp / "no-such-file"), "garbage": str(tmp / "garbage.toml"), "empty": str(tmp / "empty.toml"),
            "notmcap": str(tmp / "notmcap.mcap"), "badinp": str(tmp / "bad.inp")}


# (subcommand and arguments with {placeholders}, a word the error must contain)
CASES = [
    ("serve {missing}", "no-such-file"),
    ("serve --port notaport", "port"),
    ("serve --mqtt http://127.0.0.1:1883", "mqtt"),
    ("check {missing}", "no-such-file"),
    ("check {garbage}", "garbage.toml"),
    ("plugin new 'Not A Name!'", "name"),
    ("generate --assets -5 {tmp}/city", "assets"),
    ("import swmm {missing}", "no-such-file"),
    ("import swmm {badinp}", "bad.inp"),
    ("import nosuchformat {badinp}", "nosuchformat"),
    ("tail http://127.0.0.1:{closed_port}", "127.0.0.1"),
    ("tail not-a-url", "not-a-url"),
    ("token add someone --role emperor", "role"),
    ("token revoke nobody", "nobody"),
    ("drill check {missing}", "no-such-file"),
    ("drill check {garbage}", "garbage.toml"),
    ("drill run {garbage}", "garbage.toml"),
    ("record info {missing}", "no-such-file"),
    ("record info {notmcap}", "notmcap.mcap"),
    ("rerun {notmcap}", "notmcap.mcap"),
    ("report {notmcap}", "notmcap.mcap"),
    ("branch {notmcap} --at 10 --out {tmp}/b.mcap", "notmcap.mcap"),
    ("devices credentials {missing} --out {tmp}/creds", "no-such-file"),
    ("devices run --mqtt http://127.0.0.1:1", "mqtt"),
]


@pytest.mark.parametrize(("command", "word"), CASES, ids=[c for c, _ in CASES])
def test_bad_input_gives_a_short_error_not_a_traceback(tmp_path: Path, command: str, word: str) -> None:
    import shlex

    args = [a.format(tmp=tmp_path, closed_port=free_port(), **_files(tmp_path)) for a in shlex.split(command)]
    result = _run(args, tmp_path)
    assert result.returncode != 0, f"twin {command} exited 0:\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    # argparse's own refusals print the usage first; structured log lines (JSON) are the
    # operator's channel, not the error. The error is one line, except `drill check`'s
    # list of every problem, one per line under its heading.
    lines = [line for line in result.stderr.splitlines()
             if line.strip() and not line.startswith(("usage:", " ", "{"))]
    assert lines and lines[0].startswith("twin"), f"twin {command}: no error line naming the command:\n{result.stderr}"
    if not command.startswith("drill"):
        assert len(lines) == 1, f"twin {command}: expected one error line, got:\n{result.stderr}"
    assert word.lower() in result.stderr.lower(), f"twin {command}: the error does not name {word!r}:\n{result.stderr}"


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_stopping_serve_is_quiet(tmp_path: Path, how: signal.Signals) -> None:
    """Ctrl-C (SIGINT) or a service manager's stop (SIGTERM) is the normal way to stop
    ``twin serve``: no traceback, exit 0."""
    port = free_port()
    env = {**os.environ, "TWIN_DATA": str(tmp_path / "data")}
    process = subprocess.Popen([*TWIN, "serve", "--port", str(port)], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", 600, process=process)  # a cold numba cache compiles for minutes on a busy machine
        process.send_signal(how)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert "Traceback" not in err + out, err
    assert process.returncode == 0, err
