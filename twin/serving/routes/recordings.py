"""``GET /api/recordings``: the recordings a director may open for replay."""

from __future__ import annotations

import msgspec

from twin.serving.routing import ApiRoute, Call


class RecordingList(msgspec.Struct):
    """The recordings a director may open (``POST /api/replay {"action": "open"}``)."""

    #: file names in the data folder's recordings/
    recordings: list[str]
    #: the file this server records into, if it records
    recording_now: str | None
    folder: str | None


async def recordings(call: Call) -> RecordingList:
    """The recordings of the data folder, and the one this server records now."""
    server = call.server
    folder = server.recordings_dir
    files = sorted(f.name for f in folder.glob("*.mcap")) if folder is not None and folder.exists() else []
    return RecordingList(files, str(server.recorder.path) if server.recorder else None, str(folder) if folder else None)


ROUTES = [
    ApiRoute("GET", "/api/recordings", recordings, tag="replay", ready=False, answers={200: RecordingList}),
]
