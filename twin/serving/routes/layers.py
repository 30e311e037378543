"""Geometry for the viewer (``twin.serving.geometry``): ``GET /api/layers`` lists the
layers, ``GET /api/layers/{name}.glb`` gives one layer's mesh (binary glTF) and
``GET /api/layers/{name}.json`` its map from asset row to vertex run. Each layer is
built once."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from starlette.responses import Response

from twin.serving.geometry import Layer, LayerCache, area_of, layers_for
from twin.serving.protocol import ApiErrorCode
from twin.serving.routing import ApiError, ApiFailure, ApiRoute, Call, Media


class AreaLook(msgspec.Struct):
    """How an area of the scene (``[[layers.areas]]``) is named and drawn."""

    #: its title in English
    title: str
    #: its title in Chinese
    title_zh: str
    #: "#rrggbb"
    colour: str
    #: 0 (invisible) to 1
    opacity: float


class LayerEntry(msgspec.Struct):
    name: str
    #: the domain whose assets it draws; null for a base layer (terrain, buildings, an area)
    domain: str | None
    #: where its mesh is
    glb: str
    #: where its map from asset row to vertex run is
    map: str
    #: an area's title and look; null for any other layer
    area: AreaLook | None = None


class LayerList(msgspec.Struct):
    scene: str
    layers: list[LayerEntry]


class LayerMap(msgspec.Struct):
    """What the viewer needs to colour and pick assets: asset ``ids[i]``'s vertices
    start at ``offsets[i]`` of the layer's mesh."""

    name: str
    domain: str | None
    vertices: int
    faces: int
    #: bytes of the layer's GLB
    bytes: int
    #: [[xmin, ymin, zmin], [xmax, ymax, zmax]] in scene metres
    bounds: list[list[float]]
    assets: int
    ids: list[str]
    offsets: list[int]


def _cache(call: Call) -> LayerCache:
    e = call.twin
    return layers_for(e.scene, list(e.world.tables))


async def layers(call: Call) -> LayerList:
    """The scene's layers, each with the addresses of its mesh and its map."""
    cache = _cache(call)
    return LayerList(cache.scene.name, [_entry(cache, n) for n in cache.names()])


def _entry(cache: LayerCache, name: str) -> LayerEntry:
    area = area_of(cache.scene, name)
    look = AreaLook(area.title, area.title_zh, area.colour, area.opacity) if area is not None else None
    return LayerEntry(name, name if name in cache.domains else None, f"/api/layers/{name}.glb", f"/api/layers/{name}.json", look)


async def _layer(call: Call) -> Layer:
    cache = _cache(call)
    name = call.request.path_params["name"]
    try:
        return await asyncio.to_thread(cache.get, name)
    except KeyError:
        raise ApiFailure(ApiErrorCode.NOT_FOUND, f"no layer {name!r}; valid: {', '.join(cache.names())}") from None


async def layer_glb(call: Call) -> Response:
    """One layer's mesh, binary glTF (instanced or merged per layer)."""
    layer = await _layer(call)
    return Response(layer.glb, media_type="model/gltf-binary", headers={"Cache-Control": "no-cache"})


async def layer_map(call: Call) -> Any:
    """One layer's map from asset row to vertex run."""
    return (await _layer(call)).map()


ROUTES = [
    ApiRoute("GET", "/api/layers", layers, tag="layers", answers={200: LayerList}),
    ApiRoute("GET", "/api/layers/{name:str}.glb", layer_glb, tag="layers",
             answers={200: Media("model/gltf-binary", {"type": "string", "contentMediaType": "model/gltf-binary"},
                                 "the layer's mesh"), 404: ApiError}),
    ApiRoute("GET", "/api/layers/{name:str}.json", layer_map, tag="layers", answers={200: LayerMap, 404: ApiError}),
]
