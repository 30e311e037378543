"""`twin token list` names a crew token's unit (the tasks it sees), and `add` says it."""

from __future__ import annotations

from test_access import twin


def test_token_list_shows_a_crew_tokens_unit(tmp_path):
    data = tmp_path / "data"
    added = twin("token", "add", "crew", "--name", "gas crew 3", "--unit", "合肥燃气集团有限公司", "--data", str(data),
                 data=data).stdout
    assert "token 'gas crew 3' (crew, unit 合肥燃气集团有限公司)" in added
    twin("token", "add", "operator", "--name", "desk1", "--data", str(data), data=data)
    lines = twin("token", "list", "--data", str(data), data=data).stdout.splitlines()
    [crew] = [line for line in lines if line.startswith("gas crew 3")]
    [desk] = [line for line in lines if line.startswith("desk1")]
    assert crew.endswith("never expires  unit 合肥燃气集团有限公司") and " crew " in crew
    assert "unit" not in desk  # only a crew token names a unit
