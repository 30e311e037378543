"""`twin drainage run` and `twin drainage compare` on the command line (the drainage
plugin's twin_cli hook): a SWMM file run headless in the twin, and against SWMM."""

from __future__ import annotations

import csv
import os
import subprocess
import sys

import pytest

# the network of test_drainage_import, imported by path: with --import-mode=importlib
# no test folder is on sys.path, so `from test_drainage_import import` fails in a run
# from the repository's root (CI's)
sys.path.insert(0, os.path.dirname(__file__))
from test_drainage_import import NETWORK_INP  # noqa: E402

pytest.importorskip("pyswmm")


def twin(*args, data):
    env = {**os.environ, "TWIN_DATA": str(data)}
    return subprocess.run([sys.executable, "-m", "twin.cli", *args], capture_output=True, text=True, env=env, timeout=900)


@pytest.mark.slow
def test_run_writes_the_peaks_and_compare_prints_the_differences(tmp_path):
    inp = tmp_path / "two_streets.inp"
    # SWMM 5.2.4 takes no quoted names with spaces: J 3 is J3 here
    inp.write_text(NETWORK_INP.replace('"J 3"', "J3"), encoding="utf-8")
    summary = tmp_path / "peaks.csv"
    result = twin("drainage", "run", str(inp), "--summary", str(summary), data=tmp_path / "data")
    assert result.returncode == 0, result.stderr
    assert "two_streets.inp: 4 nodes, 3 links; runoff" in result.stdout and f"wrote {summary}" in result.stdout
    with summary.open(encoding="utf-8") as handle:
        rows = {r["element"]: r for r in csv.DictReader(handle)}
    assert set(rows) == {"J1", "J2", "J3", "OUT1", "C1", "C2", "C3"}
    assert rows["J1"]["kind"] == "node" and float(rows["J1"]["peak_depth_m"]) > 0.05
    assert 600 <= float(rows["J1"]["peak_time_s"]) <= 1800  # the 90 mm/h burst is 0:10-0:15
    assert rows["C3"]["kind"] == "link" and float(rows["C3"]["peak_flow_m3s"]) > 0.2

    result = twin("drainage", "compare", str(inp), "--rows", "2", data=tmp_path / "data")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "two_streets.inp: the twin against SWMM 5.2 (pyswmm)" in out
    assert "peak depth over 4 nodes: max" in out and "p95" in out and "median" in out
    assert "peak flow over 3 links: max" in out
    assert "runoff volume" in out and "outfall volume" in out


def test_bad_input_is_one_line(tmp_path):
    missing = twin("drainage", "run", str(tmp_path / "nowhere.inp"), data=tmp_path / "data")
    assert missing.returncode == 2 and "nowhere.inp: no such file" in missing.stderr
    assert "Traceback" not in missing.stderr
    broken = tmp_path / "broken.inp"
    broken.write_text(NETWORK_INP.replace("J1     20.0      2.5", "J1     twenty    2.5"), encoding="utf-8")
    failed = twin("drainage", "run", str(broken), data=tmp_path / "data")
    assert failed.returncode == 2 and "line 29" in failed.stderr and "'Elevation'" in failed.stderr
    assert "Traceback" not in failed.stderr


@pytest.mark.slow
def test_compare_names_swmms_refusal(tmp_path):
    """A file the twin reads but SWMM refuses (a quoted name with a space, which SWMM
    5.2.4 does not take): one line with SWMM's own errors."""
    inp = tmp_path / "quoted.inp"
    inp.write_text(NETWORK_INP, encoding="utf-8")
    result = twin("drainage", "compare", str(inp), data=tmp_path / "data")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "SWMM refuses the file: ERROR 209: undefined object J 3" in result.stderr


@pytest.mark.slow
def test_import_strict_refuses_what_it_would_warn_about(tmp_path):
    """`twin import swmm --strict`: a file with elements the twin approximates
    (test_inlet_drains.inp routed by the kinematic wave: its STREET sections and street
    inlets, which the twin models under the dynamic wave only) is refused, each named,
    nothing written; a file with none imports."""
    from test_drainage_public import SWMMIO

    out = tmp_path / "inlets"
    kinwave = tmp_path / "test_inlet_drains.inp"
    kinwave.write_text((SWMMIO / "test_inlet_drains.inp").read_text(encoding="utf-8").replace(
        "FLOW_ROUTING         DYNWAVE", "FLOW_ROUTING         KINWAVE"), encoding="utf-8")
    refused = twin("import", "swmm", str(kinwave), "--strict", "--out", str(out), data=tmp_path / "data")
    assert refused.returncode == 2 and "refused (--strict), 6 warning(s)" in refused.stderr
    assert "[INLET_USAGE] line 189: street inlets are modelled under DYNWAVE only" in refused.stderr
    assert "conduit 'Street1' ([XSECTIONS] line 151)" in refused.stderr and not out.exists()
    ok = twin("import", "swmm", str(SWMMIO / "Pump_Control_Model.inp"), "--strict", "--out", str(tmp_path / "pumps"),
              data=tmp_path / "data")
    assert ok.returncode == 0, ok.stderr
    assert "regulator 1" in ok.stdout
