"""Place names of a synthetic city (twin.authoring.placenames): every asset citygen hands
out says where it lies, as a command center would say it, in English and Chinese."""

from __future__ import annotations

import json

import pytest

from twin.authoring.citygen import BLOCK, STREET_WIDTH, line, plan_city, point, populate
from twin.authoring.placenames import EAST_WEST, NORTH_SOUTH, PlaceNamer, street_name, zh_number
from twin.plugins.registry import load_registry


def test_every_asset_of_a_generated_city_has_a_place_in_both_languages():
    registry = load_registry()
    plan = plan_city(7, 5, 4)
    populate(plan, registry)
    features = [f for domain in sorted(plan.assets) for f in plan.assets[domain]]
    assert {d for d in plan.assets} >= {"gas", "drainage", "bridge", "tunnel"} and len(features) > 200
    unnamed = [f["properties"]["id"] for f in features
               if not (isinstance(f["properties"].get("place"), str) and f["properties"]["place"]
                       and isinstance(f["properties"].get("place_zh"), str) and f["properties"]["place_zh"])]
    assert unnamed == []
    places = {(f["properties"]["place"], f["properties"]["place_zh"]) for f in features}
    # blocks and stretches of street, not one name for the whole city; the river's row
    # (blocks_y // 2) has its own
    assert len(places) > 20
    assert any(zh.startswith("滨河") and zh.endswith("街区") for _, zh in places)
    assert any(zh.endswith("段") for _, zh in places) and any("·" in zh for _, zh in places)
    # the same city, the same names
    again = plan_city(7, 5, 4)
    populate(again, registry)
    assert json.dumps(again.assets, ensure_ascii=False) == json.dumps(plan.assets, ensure_ascii=False)


def test_a_point_is_named_by_its_block_and_a_line_along_a_street_by_its_stretch():
    namer = PlaceNamer(8, 7, BLOCK, STREET_WIDTH, waterside_row=3)
    # block (1, 0): south side the first east-west street, west side the second north-south one
    assert namer.place_of(point(1 * BLOCK + 8, 6, 20)) == ("Changjiang Road / Huizhou Avenue block", "长江路·徽州大道街区")
    assert namer.place_of(point(2 * BLOCK - 5, 2 * BLOCK - 3, 20)) == ("Huaihe Road / Huizhou Avenue block", "淮河路·徽州大道街区")
    # the waterside row: numbered west to east
    assert namer.place_of(point(3 * BLOCK + 8, 3 * BLOCK + 6, 18)) == ("Riverside block 4", "滨河四街区")
    assert namer.block_place(7, 3) == ("Riverside block 8", "滨河八街区")
    assert PlaceNamer(1, 3, BLOCK, STREET_WIDTH, waterside_row=1).block_place(0, 1) == ("Riverside block", "滨河街区")
    # a main 6 m off the centreline of the first east-west street, from the first crossing to the second
    main = line([(4.0, 6.0, 19.0), (60.0, 6.0, 19.0), (116.0, 6.0, 19.0)])
    assert namer.place_of(main) == ("Changjiang Road, Jinzhai Road to Huizhou Avenue", "长江路金寨路至徽州大道段")
    span = line([(2 * BLOCK, 3 * BLOCK, 20.0), (2 * BLOCK, 3.5 * BLOCK, 22.0), (2 * BLOCK, 4 * BLOCK, 20.0)])
    assert namer.place_of(span) == ("Suzhou Road, Shouchun Road to Anqing Road", "宿州路寿春路至安庆路段")
    # a line across a block, off every street: the block its centre lies in
    across = line([(BLOCK + 30, BLOCK + 40, 20.0), (BLOCK + 90, BLOCK + 80, 20.0)])
    assert namer.place_of(across) == ("Huaihe Road / Huizhou Avenue block", "淮河路·徽州大道街区")
    # outside the grid (an outfall past the last street): the nearest block
    assert namer.place_of(point(-40.0, 7 * BLOCK + 30, 18.0)) == ("Wangjiang Road / Jinzhai Road block", "望江路·金寨路街区")


def test_an_asset_that_names_its_own_place_keeps_it():
    from twin.authoring.citygen import name_assets

    plan = plan_city(1, 3, 3, buildings=False)
    plan.add_asset("x", "X-1", "thing", point(10, 10, 20), "x works", {"place": "North gate", "place_zh": "北门"})
    plan.add_asset("x", "X-2", "thing", point(130, 10, 20), "x works")
    name_assets(plan)
    assert [(f["properties"]["place"], f["properties"]["place_zh"]) for f in plan.assets["x"]] == [
        ("North gate", "北门"), ("Changjiang Road / Huizhou Avenue block", "长江路·徽州大道街区")]


def test_every_street_of_a_big_grid_has_a_name_of_its_own():
    for axis, names in (("ew", EAST_WEST), ("ns", NORTH_SOUTH)):
        many = [street_name(axis, k) for k in range(5 * len(names))]
        assert len({en for en, _ in many}) == len({zh for _, zh in many}) == len(many)
    assert street_name("ew", 0) == ("Changjiang Road", "长江路")
    assert street_name("ew", len(EAST_WEST)) == ("Changjiang 2nd Road", "长江二路")
    assert street_name("ns", 3 * len(NORTH_SOUTH) + 1) == ("Huizhou 4th Road", "徽州四路")
    assert not {zh for zh, _, _ in EAST_WEST} & {zh for zh, _, _ in NORTH_SOUTH}


@pytest.mark.parametrize(("n", "zh"), [(1, "一"), (10, "十"), (12, "十二"), (20, "二十"), (21, "二十一"), (105, "一百零五"),
                                       (110, "一百一十"), (1001, "一千零一"), (9999, "九千九百九十九")])
def test_blocks_are_numbered_in_chinese_numerals(n, zh):
    assert zh_number(n) == zh


def test_a_number_out_of_range_is_one_clear_error():
    with pytest.raises(ValueError, match=r"zh_number\(0\): expected 1 to 9999"):
        zh_number(0)
