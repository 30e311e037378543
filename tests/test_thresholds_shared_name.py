"""A ``[thresholds."<name>"]`` table whose name an updater and a kernel share (the bridge
plugin's ``bridge.response``): it belongs to both, each takes its own parameters from it,
and a key neither declares is still refused, naming the keys of both."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from twin_bridges import plugin as bridges

from twin.authoring.testing import Harness
from twin.errors import TwinError
from twin.plugins.contributions import Param
from twin.runtime import check_config, load_config
from twin.tick.params import owners, param_map, resolve_params

LEVELS = [0.4, 0.6, 0.8, 0.95, 1.1, 1.4]


def test_bridge_thresholds_from_a_config_file_reach_the_bridge_kernel(tmp_path):
    config_file = tmp_path / "config.toml"
    config_file.write_text(f'[thresholds."bridge.response"]\nresponse_levels = {LEVELS}\nreference_temperature = 15.0\n')
    config = load_config(config_file)
    h = Harness(tmp_path / "scene", plugins=[bridges], blocks=(8, 7), seed=20261123, config=config)
    try:
        check_config(config, h.registry)  # the file's check with its lines: no problem
        (bound,) = [k for k in h.engine.kernels if k.kernel.name == "bridge.response"]
        names = [p.name for p in bound.kernel.params]
        assert np.array_equal(bound.params[names.index("response_levels")], LEVELS)
        assert bound.params[names.index("reference_temperature")] == 15.0
        # the others keep the plugin's defaults
        assert np.array_equal(bound.params[names.index("frequency_levels")], bridges.FREQUENCY_LEVELS)
        # the truth judges with the same levels
        h.engine.simulator.true_risk()
        (truth,) = [t for t in h.engine.simulator._truth_kernels if t[1].name == "bridge.response"]
        assert np.array_equal(truth[3][names.index("response_levels")], LEVELS)
        h.run(2.0)  # the updater of the same name steps with its (empty) parameters
    finally:
        h.engine.close()


def test_a_key_no_contribution_of_the_name_declares_is_refused_naming_them_all(tmp_path):
    config_file = tmp_path / "config.toml"
    config_file.write_text('[thresholds."bridge.response"]\nresponse_level = [0.4, 0.6, 0.8, 0.95, 1.1, 1.4]\n')
    config = load_config(config_file)
    h = Harness(tmp_path / "scene", plugins=[bridges], blocks=(4, 4), seed=1)
    try:
        with pytest.raises(TwinError, match=r"config\.toml: line 2: .*unknown response_level; valid keys: response_levels, "):
            check_config(config, h.registry)
    finally:
        h.engine.close()
    with pytest.raises(ValueError, match=r"unknown response_level; valid keys: response_levels, frequency_levels"):
        Harness(tmp_path / "again", plugins=[bridges], blocks=(4, 4), seed=1, config=dict(config))


def test_same_named_contributions_each_take_their_own_parameters():
    kernel = SimpleNamespace(name="x.shared", params=(Param("levels", (1.0, 2.0, 3.0, 4.0, 5.0, 6.0), "1", "k"),
                                                      Param("gain", 2.0, "1", "kernel's")))
    updater = SimpleNamespace(name="x.shared", params=(Param("gain", 7.0, "1", "updater's"), Param("rate", 0.5, "1/s", "u")))
    registry = SimpleNamespace(kernels=[("x", kernel)], updaters=[("x", updater)], couplings=[])
    (owner,) = owners(registry)
    assert [p.name for p in owner.params] == ["levels", "gain", "rate"]
    overrides = {"x.shared": {"rate": 0.25}}
    assert param_map(updater, overrides, registry) == {"gain": 7.0, "rate": 0.25}  # its own default gain, not the kernel's
    assert resolve_params(kernel, overrides, registry)[1] == 2.0
    assert param_map(updater, {"x.shared": {"gain": 3.0}}, registry)["gain"] == 3.0
    with pytest.raises(ValueError, match="unknown rate; valid keys: levels, gain$"):
        resolve_params(kernel, overrides)  # without the registry, only the kernel's own keys
