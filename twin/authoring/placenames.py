"""Place names for a synthetic city: its streets, its blocks, and where each asset lies.

A command center says where a thing is the way a crew would find it: a block between
two named streets ("长江路·金寨路街区"), a stretch of a street between two crossings
("长江路金寨路至徽州大道段"), a block on the water ("滨河三街区"). The names are plausible
Hefei-style streets in Chinese and in pinyin, fixed by each street's index in the grid,
never drawn at random, so the same city always reads the same.

Coordinates and the grid are those of :mod:`twin.authoring.citygen` (blocks of ``block``
metres, street ``i`` of the north-south ones at x = i * block, street ``j`` of the
east-west ones at y = j * block).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

#: east-west streets, south to north: (Chinese stem, pinyin stem, kind)
EAST_WEST = (
    ("长江", "Changjiang", "路"), ("淮河", "Huaihe", "路"), ("芜湖", "Wuhu", "路"), ("寿春", "Shouchun", "路"),
    ("安庆", "Anqing", "路"), ("黄山", "Huangshan", "路"), ("望江", "Wangjiang", "路"), ("屯溪", "Tunxi", "路"),
    ("繁华", "Fanhua", "大道"), ("太湖", "Taihu", "路"), ("临泉", "Linquan", "路"), ("方兴", "Fangxing", "大道"),
    ("明光", "Mingguang", "路"), ("濉溪", "Suixi", "路"), ("习友", "Xiyou", "路"), ("休宁", "Xiuning", "路"),
)
#: north-south streets, west to east
NORTH_SOUTH = (
    ("金寨", "Jinzhai", "路"), ("徽州", "Huizhou", "大道"), ("宿州", "Suzhou", "路"), ("阜阳", "Fuyang", "路"),
    ("马鞍山", "Ma'anshan", "路"), ("合作化", "Hezuohua", "路"), ("潜山", "Qianshan", "路"), ("肥西", "Feixi", "路"),
    ("桐城", "Tongcheng", "路"), ("六安", "Lu'an", "路"), ("蒙城", "Mengcheng", "路"), ("美菱", "Meiling", "大道"),
    ("铜陵", "Tongling", "路"), ("当涂", "Dangtu", "路"), ("包河", "Baohe", "大道"), ("庐州", "Luzhou", "大道"),
)
_KIND_EN = {"路": "Road", "大道": "Avenue"}
_DIGITS = "零一二三四五六七八九"


def zh_number(n: int) -> str:
    """``n`` (1 to 9999) in Chinese numerals, as a street or a block is numbered: 一, 十二, 一百零五."""
    if not 1 <= n <= 9999:
        raise ValueError(f"zh_number({n}): expected 1 to 9999")
    if 10 <= n < 20:
        return "十" + (_DIGITS[n - 10] if n > 10 else "")
    out, zero = "", False
    for value, unit in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        digit = n // value % 10
        if digit:
            out += ("零" if zero and out else "") + _DIGITS[digit] + unit
            zero = False
        else:
            zero = True
    return out


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 < 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def street_name(axis: str, index: int) -> tuple[str, str]:
    """The (English, Chinese) name of the ``index``-th street along ``axis`` ("ew": the
    east-west streets, counted south to north; "ns": north-south, west to east).

    A grid with more streets than the list names its further ones after the same stems,
    numbered as Hefei numbers its parallel roads ("长江二路", "Changjiang 2nd Road"), so
    every street of any grid has a name of its own."""
    names = EAST_WEST if axis == "ew" else NORTH_SOUTH
    zh, en, kind = names[index % len(names)]
    round_ = index // len(names)
    if round_ == 0:
        return f"{en} {_KIND_EN[kind]}", zh + kind
    return f"{en} {_ordinal(round_ + 1)} Road", f"{zh}{zh_number(round_ + 1)}路"


class PlaceNamer:
    """Names the blocks and streets of a ``blocks_x`` by ``blocks_y`` grid of ``block``
    metre blocks, streets ``street_width`` metres wide, whose waterside row is the block
    row ``waterside_row`` (the row the city's water runs through; None: none)."""

    def __init__(self, blocks_x: int, blocks_y: int, block: float, street_width: float, waterside_row: int | None) -> None:
        self.blocks_x, self.blocks_y, self.block = blocks_x, blocks_y, block
        self.half_street = street_width / 2
        self.waterside_row = waterside_row

    def block_place(self, i: int, j: int) -> tuple[str, str]:
        """The (English, Chinese) name of block (i, j), the i-th from the west in the j-th
        row from the south: after the streets along its south and west sides, or, in the
        waterside row, "Riverside block" (滨河街区), numbered west to east when the row has
        more than one."""
        i = min(max(i, 0), self.blocks_x - 1)
        j = min(max(j, 0), self.blocks_y - 1)
        if j == self.waterside_row:
            if self.blocks_x == 1:
                return "Riverside block", "滨河街区"
            return f"Riverside block {i + 1}", f"滨河{zh_number(i + 1)}街区"
        (ew, ew_zh), (ns, ns_zh) = street_name("ew", j), street_name("ns", i)
        return f"{ew} / {ns} block", f"{ew_zh}·{ns_zh}街区"

    def stretch_place(self, axis: str, line: int, between: int) -> tuple[str, str]:
        """The (English, Chinese) name of the stretch of street ``line`` along ``axis``
        from its crossing with street ``between`` to the next: "长江路金寨路至徽州大道段"."""
        crossing = "ns" if axis == "ew" else "ew"
        last = self.blocks_x if axis == "ew" else self.blocks_y
        between = min(max(between, 0), last - 1)
        name, zh = street_name(axis, line)
        (a, a_zh), (b, b_zh) = street_name(crossing, between), street_name(crossing, between + 1)
        return f"{name}, {a} to {b}", f"{zh}{a_zh}至{b_zh}段"

    def place_of(self, geometry: dict[str, Any]) -> tuple[str, str]:
        """Where a GeoJSON geometry lies, (English, Chinese).

        A line that runs along a street, inside its kerbs, is named by the stretch of that
        street: it lies beside the blocks on both sides, so neither block's name would say
        where it is. Everything else (a point, an area, a line across the blocks) is named
        by the block its centre lies in; a point on a street belongs to the block on its
        side (east or north of the centreline when exactly on it)."""
        xs, ys = zip(*((c[0], c[1]) for c in _coordinates(geometry.get("coordinates", []))), strict=True)
        cx, cy = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
        if geometry.get("type") in ("LineString", "MultiLineString"):
            axis = "ew" if max(xs) - min(xs) >= max(ys) - min(ys) else "ns"
            across, along = (cy, cx) if axis == "ew" else (cx, cy)
            line = round(across / self.block)
            last = self.blocks_y if axis == "ew" else self.blocks_x
            if 0 <= line <= last and all(abs(v - line * self.block) <= self.half_street for v in (ys if axis == "ew" else xs)):
                return self.stretch_place(axis, line, math.floor(along / self.block))
        return self.block_place(math.floor(cx / self.block), math.floor(cy / self.block))


def _coordinates(nested: Any) -> Iterator[list[float]]:
    """Every position in a GeoJSON ``coordinates`` array, however deeply nested."""
    if nested and isinstance(nested[0], (int, float)):
        yield nested
        return
    for part in nested:
        yield from _coordinates(part)


def name_places(features: list[dict[str, Any]], namer: PlaceNamer) -> None:
    """Give each feature ``place`` and ``place_zh`` properties (where it lies, by
    :meth:`PlaceNamer.place_of`), unless it has a ``place`` of its own (a generator may
    name its showpieces) or no position."""
    for feature in features:
        props = feature["properties"]
        if props.get("place") or not any(True for _ in _coordinates((feature.get("geometry") or {}).get("coordinates", []))):
            continue
        props["place"], props["place_zh"] = namer.place_of(feature["geometry"])
