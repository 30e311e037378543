"""Wire protocol v1: the one declaration of every message on ``/ws``.

Each WebSocket message is one binary frame::

    u32 little-endian  header length H
    H bytes            the header: a msgpack map, one of the messages below
    0-7 zero bytes     padding, so that the body starts at a multiple of 8
    body               the arrays the header refers to, each at a multiple of 8

An array in the header is an :class:`ArrayRef` ``{dtype, offset, count}``; ``offset``
counts from the start of the body. Arrays are raw little-endian bytes, so a browser
views them as typed arrays without a copy (``new Float32Array(buf, bodyStart +
offset, count)``): the alignment is what makes that legal. Messages from clients are
a header alone (H followed by nothing). ``docs/protocol.md`` describes each message;
``viewer/src/protocol.generated.js`` is generated from this module.
"""

from __future__ import annotations

import enum
import struct
from typing import Annotated, Literal, NotRequired, TypedDict

import msgspec
import numpy as np

from twin.plugins.contributions import ViewerStyle

# the core's own live field of every domain with sensors (declared with the types that
# cross every boundary, since the tick writes it): part of this contract, so re-exported
from twin.types import STALE_ROWS_FIELD  # noqa: F401

PROTOCOL_VERSION = 1
#: the WebSocket subprotocol that names this version; a client of another is refused
SUBPROTOCOL = "lifeline-twin.v1"
#: largest message a client may send (bytes)
MAX_CLIENT_MESSAGE = 64 * 1024
ALIGN = 8

# ------------------------------------------------------------------------- codes


class ErrorCode(enum.StrEnum):
    """The ``code`` of an :class:`Error` message (the table of ``docs/protocol.md``,
    section Error, is checked against this enum)."""

    #: not a frame of this protocol (header length, not msgpack)
    MALFORMED = "malformed"
    #: a message of an unknown type, or a field of the wrong type or value
    INVALID = "invalid"
    #: a message over MAX_CLIENT_MESSAGE bytes
    TOO_LARGE = "too_large"
    #: the last of MAX_CLIENT_ERRORS bad messages, before the close (1008)
    TOO_MANY_ERRORS = "too_many_errors"
    #: more answers left unread than the server keeps (read before asking again)
    TOO_MANY_REQUESTS = "too_many_requests"
    #: a Subscribe names a domain the twin does not have
    UNKNOWN_DOMAIN = "unknown_domain"
    #: a Subscribe names a field its domain does not stream
    UNKNOWN_FIELD = "unknown_field"
    #: the client offered other subprotocols than SUBPROTOCOL (the HTTP handshake is refused: 400)
    PROTOCOL_MISMATCH = "protocol_mismatch"
    #: the page's Origin is not allowed (close 4403)
    FORBIDDEN_ORIGIN = "forbidden_origin"
    #: no valid token, or a role that may not connect (close 4401 or 4403)
    UNAUTHORIZED = "unauthorized"
    #: the twin is still starting (close 1013)
    STARTING = "starting"


class CloseCode(enum.IntEnum):
    """Every code the server closes ``/ws`` with (the Close codes table of
    ``docs/protocol.md`` is checked against this enum)."""

    NORMAL = 1000
    GOING_AWAY = 1001
    #: too many bad messages, or answers left unread
    POLICY = 1008
    #: a client message over the limit, refused at its frame header
    TOO_BIG = 1009
    #: the server failed to serve this client, or no answer to keepalive pings
    INTERNAL = 1011
    #: the server restarts (a shutdown)
    RESTARTING = 1012
    #: the twin is starting: retry in a few seconds
    TRY_AGAIN = 1013
    #: too slow: the client could not take a send in time
    TOO_SLOW = 4008
    #: no valid token, or the token was revoked or expired while connected
    UNAUTHORIZED = 4401
    #: the token's role is not enough, or the Origin is not allowed
    FORBIDDEN = 4403
    #: subprotocol mismatch
    PROTOCOL_MISMATCH = 4406


class ApiErrorCode(enum.StrEnum):
    """The ``code`` of every refusal of the HTTP API (its body is
    ``twin.serving.routing.ApiError``); :data:`API_ERRORS` gives each one's status and
    meaning, and ``docs/api.md`` its table."""

    INVALID_REQUEST = "invalid_request"
    INVALID_BODY = "invalid_body"
    INVALID_QUERY = "invalid_query"
    INVALID_VALUE = "invalid_value"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    CROSS_SITE = "cross_site"
    NOT_FOUND = "not_found"
    NOT_REPLAYING = "not_replaying"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    CONFLICT = "conflict"
    TOO_LARGE = "too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    MISDIRECTED = "misdirected"
    READINGS_REJECTED = "readings_rejected"
    INTERNAL = "internal"
    NOT_READY = "not_ready"
    UNAVAILABLE = "unavailable"

    @classmethod
    def for_status(cls, status: int) -> ApiErrorCode:
        """The general code of an HTTP status (400 ``invalid_request``, 403 ``forbidden``...)."""
        return _GENERAL[status]


#: each API error code's HTTP status and what it means (docs/api.md's table)
API_ERRORS: dict[ApiErrorCode, tuple[int, str]] = {
    ApiErrorCode.INVALID_REQUEST: (400, "the request is malformed (a Content-Length that is not a number)"),
    ApiErrorCode.INVALID_BODY: (400, "the body is not what the route takes: not JSON, not an object, a field of the wrong type, nested too deep"),
    ApiErrorCode.INVALID_QUERY: (400, "a query parameter is of the wrong type or out of range"),
    ApiErrorCode.INVALID_VALUE: (400, "the request is well formed but a value is refused: an action's parameter out of range, an unknown target, a replay speed or recording that does not exist"),
    ApiErrorCode.UNAUTHORIZED: (401, "no valid token: none sent, unknown, expired, or none is valid any more"),
    ApiErrorCode.FORBIDDEN: (403, "the token's role may not do this"),
    ApiErrorCode.CROSS_SITE: (403, "a cross-site request, or an Origin that is not allowed"),
    ApiErrorCode.NOT_FOUND: (404, "no such asset, alarm, layer or route"),
    ApiErrorCode.NOT_REPLAYING: (404, "the server is live, not replaying a recording"),
    ApiErrorCode.METHOD_NOT_ALLOWED: (405, "the path does not take this method (the Allow header lists those it takes)"),
    ApiErrorCode.CONFLICT: (409, "the twin's state does not allow it now: an alarm already in that state, a replay that takes no actions or readings"),
    ApiErrorCode.TOO_LARGE: (413, "the body, or a note in it, is over its limit"),
    ApiErrorCode.UNSUPPORTED_MEDIA_TYPE: (415, "the Content-Type is not one the route takes"),
    ApiErrorCode.MISDIRECTED: (421, "the Host is not a name this server answers to"),
    ApiErrorCode.READINGS_REJECTED: (422, "every reading of the body was rejected (the answer says why, reading by reading)"),
    ApiErrorCode.INTERNAL: (500, "a bug: the server failed to answer (it is logged)"),
    ApiErrorCode.NOT_READY: (503, "the twin is starting, or failed to start (detail says which)"),
    ApiErrorCode.UNAVAILABLE: (503, "a part the request needs cannot be reached now (the alarm store, the field, the token file); retry after Retry-After"),
}

_GENERAL = {400: ApiErrorCode.INVALID_REQUEST, 401: ApiErrorCode.UNAUTHORIZED, 403: ApiErrorCode.FORBIDDEN,
            404: ApiErrorCode.NOT_FOUND, 405: ApiErrorCode.METHOD_NOT_ALLOWED, 409: ApiErrorCode.CONFLICT,
            413: ApiErrorCode.TOO_LARGE, 415: ApiErrorCode.UNSUPPORTED_MEDIA_TYPE, 421: ApiErrorCode.MISDIRECTED,
            422: ApiErrorCode.READINGS_REJECTED, 500: ApiErrorCode.INTERNAL, 503: ApiErrorCode.UNAVAILABLE}


# --------------------------------------------------------------------------- shared


class ArrayRef(msgspec.Struct, frozen=True):
    """A typed array in the body: numpy dtype string (``<f4``, ``<f8``, ``<u4``, ``|u1``...),
    byte offset from the body start (a multiple of 8), element count."""

    dtype: str
    offset: int
    count: int


class FieldInfo(msgspec.Struct, frozen=True):
    name: str
    dtype: str
    unit: str
    valid: tuple[float | None, float | None]
    description: str
    attribute: bool
    label_zh: str = ""
    #: the smallest change of this field that is news (FieldSpec.resolution, in its unit;
    #: 0: every change): a delta leaves out smaller moves, so a client's value may differ
    #: from the server's by up to this much until the row's heartbeat
    resolution: float = 0.0


class DomainInfo(msgspec.Struct, frozen=True):
    name: str
    title: str
    title_zh: str
    #: kind names; ``kind`` in the body gives each row's index into this list
    kinds: list[str]
    ids: list[str]
    kind: ArrayRef
    fields: list[FieldInfo]
    #: how the viewer draws it (its plugin's ``twin_viewer_styles``); null: none declared
    style: ViewerStyle | None = None


class FieldDelta(msgspec.Struct, frozen=True):
    """Rows (``<u4``) whose value changed, and their new values (the field's dtype)."""

    rows: ArrayRef
    values: ArrayRef


# ------------------------------------------------------------------------ records
# An alarm's and an incident's record travel as the maps their books make
# (twin.tick.alarms.Alarm.summary, twin.loop.incidents.Incident.summary): every part of the
# twin that handles them (the alarm store, incidents, notifications, the recorder, replay,
# reruns, the report, the Python client) indexes them as dicts. So they are declared as
# TypedDicts, which msgspec validates and describes as it does Structs (the Python decoder
# checks them, the OpenAPI document and the viewer's .d.ts are written from them) while
# they stay the dicts they are: the bytes on the wire are the ones the books make.

#: an alarm's lifecycle
AlarmState = Literal["raised", "acknowledged", "dispatched", "resolved"]
#: what happened to an alarm: the twin's raise, escalate, deescalate, clear (its condition
#: went away) and overdue, or an operator's acknowledge, dispatch, resolve
AlarmEventKind = Literal["raise", "escalate", "deescalate", "clear", "overdue", "acknowledge", "dispatch", "resolve"]
#: an incident's lifecycle
IncidentState = Literal["open", "acknowledged", "dispatched", "closed"]
#: an incident's field crew's progress ("": not accepted yet; twin.loop.field)
CrewProgress = Literal["", "accepted", "on_site", "working", "done"]
#: a warning level: 0 none (cleared), 1 blue (IV), 2 yellow (III), 3 orange (II), 4 red (I)
Level = Annotated[int, msgspec.Meta(ge=0, le=4)]


class LevelChange(TypedDict):
    """A level an alarm took (``history``), in order: when, and which."""

    time: float
    level: Level


class AlarmActionTaken(TypedDict):
    """An operator action on an alarm: what, who acted, the simulation time, the unit
    dispatched to (``""`` but for a dispatch). ``note`` is in the full record only
    (``GET /api/alarms/{id}``); summaries leave it out."""

    action: Literal["acknowledge", "dispatch", "resolve"]
    who: str
    time: float
    note: NotRequired[str]
    unit: str


class AlarmSummary(TypedDict):
    """An alarm's record (``Alarm.summary()``): in the stream (``Snapshot.alarms``, an
    event's ``alarm``, ``Result.alarm``) and the lists of the HTTP API each operator action
    comes without its note; ``GET /api/alarms/{id}`` and an action's answer give the full
    record, the same keys with every note."""

    #: unique, increasing, never reused
    id: int
    #: the asset's id (``plugin:NAME`` or ``sensors:...`` for alarms of the platform itself)
    asset: str
    #: the asset's domain (``system`` for the platform's own alarms)
    domain: str
    #: the alarm rule (``gas.lel``)
    rule: str
    #: the rule's title, in English and Chinese
    title: str
    title_zh: str
    #: the asset's owner unit (权属单位)
    owner: str
    #: its current level (0: its condition has cleared)
    level: Level
    #: the highest level it reached
    peak_level: Level
    #: raised, then acknowledged, dispatched, resolved
    state: AlarmState
    #: when it was raised (the twin's clock: epoch seconds when live)
    since: float
    #: when it changed last
    updated: float
    #: when its current level began
    level_since: float
    #: raised and not acknowledged within its level's deadline
    overdue: bool
    #: false once its condition has cleared (level 0)
    condition_active: bool
    #: the unit it was dispatched to ("" before a dispatch)
    dispatched_to: str
    #: every level it took, in order
    history: list[LevelChange]
    #: its operator actions in order (at most 100)
    actions: list[AlarmActionTaken]


class IncidentActionTaken(TypedDict):
    """An action on an incident: an operator's (acknowledge, dispatch, close) or its field
    crew's (accept, arrive, work, done, with the ``cause`` found, a ``photo``'s file
    name and the report's idempotency ``key`` when given). ``note`` is in the whole
    record only (``GET /api/incidents/{id}``)."""

    action: Literal["acknowledge", "dispatch", "close", "accept", "arrive", "work", "done"]
    who: str
    time: float
    note: NotRequired[str]
    unit: str
    cause: NotRequired[str]
    photo: NotRequired[str]
    key: NotRequired[str]


# functional form: one of its keys is ``from``
Escalation = TypedDict("Escalation", {
    "time": float, "step": Literal["acknowledge", "dispatch", "close"], "due": float, "deadline": float,
    "level": Level, "from": str, "from_zh": NotRequired[str], "to": str, "to_zh": str, "role": str, "channels": list[str],
    "summary": str,
})
Escalation.__doc__ = """A missed deadline of an incident and who was told (twin.loop.escalation): when, the step not
    done (acknowledge, dispatch, close), when it was due, its deadline (s), the incident's peak level, from whom to
    whom it was handed up (``from_zh``, ``to_zh``: in Chinese, "" when the chain gives none; ``from_zh`` is missing
    in records of before), the role and channels of the one told, and a one-line summary."""


class ResponseTimes(TypedDict):
    """Seconds from an incident's onset to its opening (``detect``: the earliest moment
    one of its alarms' conditions reached the threshold it was raised at, its rule's dwell
    before the raise), and from its opening to its first acknowledge, dispatch, arrive
    (its crew on site) and close; null for a step not (yet) taken."""

    detect: float | None
    acknowledge: float | None
    dispatch: float | None
    arrive: float | None
    close: float | None


class IncidentInfo(TypedDict):
    """An incident's whole record (``GET /api/incidents/{id}``, an action's answer), every
    note in its actions."""

    #: unique, increasing, never reused
    id: int
    #: from its worst alarm: the rule's title and the asset's place
    title: str
    title_zh: str
    #: the worst alarm's asset's ``place`` / ``place_zh`` in the scene, else its id
    place: str
    place_zh: str
    #: the highest current level of its alarms not resolved (0 once all have cleared)
    level: Level
    #: the highest level it reached
    peak_level: Level
    #: when ``level`` last changed
    level_since: float
    #: the alarm its title, domain, rule and owner come from
    worst_alarm: int
    #: the worst alarm's domain and rule
    domain: str
    rule: str
    #: open, then acknowledged, dispatched, closed
    state: IncidentState
    #: when it opened, changed last, and closed (null while open): the twin's clock
    opened: float
    updated: float
    #: the worst alarm's asset's owner unit (权属单位)
    owner: str
    #: its alarms' ids (in the order they joined), their assets and domains
    alarms: list[int]
    assets: list[str]
    domains: list[str]
    #: the convex hull of its assets' positions, scene metres, counter-clockwise
    outline: list[list[float]]
    #: some alarm of it is active and not resolved
    active: bool
    #: the earliest moment one of its alarms' conditions reached the threshold it was
    #: raised at (null in a store from before detect was timed)
    onset: float | None
    #: the unit it was dispatched to ("" before a dispatch)
    dispatched_to: str
    #: the field crew's progress ("": not accepted yet)
    crew: CrewProgress
    closed: float | None
    #: operator and crew actions, in order (at most 100)
    actions: list[IncidentActionTaken]
    #: missed deadlines and who was told, in order
    escalations: list[Escalation]


class IncidentSummary(IncidentInfo):
    """An incident as the stream (``Snapshot.incidents``, ``Delta.incidents``) and
    ``GET /api/incidents`` carry it (``Incident.summary()``): its record with each action
    without its note, and its response times."""

    #: seconds from its opening to each first step
    times: ResponseTimes


class AlarmEventInfo(msgspec.Struct, frozen=True):
    """One alarm change: raise, escalate, deescalate, clear, overdue, acknowledge,
    dispatch, resolve. ``alarm`` is the alarm's record after the change, summarised: its
    operator actions without their notes (``note`` is this event's own; ``GET
    /api/alarms/{id}`` gives every note)."""

    kind: AlarmEventKind
    time: float
    alarm: AlarmSummary
    who: str = ""
    note: str = ""


# --------------------------------------------------------------- server -> client


class Hello(msgspec.Struct, tag="hello", tag_field="type"):
    """First message after connecting: the schema and the clock."""

    protocol: int
    server: str
    #: random per server start: ``seq`` counts anew after a restart, so a resume names
    #: the epoch its ``since`` belongs to
    epoch: str
    scene: str
    title: str
    title_zh: str
    time: float
    seq: int
    dt: float
    mode: str
    role: str
    domains: list[DomainInfo]
    levels: dict[str, list[str]]
    #: the risk at which each level 1-4 starts (the one risk convention)
    level_thresholds: list[float]
    #: true when ``time`` is UTC epoch seconds (a live twin, a drill or ``--fast`` run from
    #: its start instant, their replays); false for a clock counting from 0
    absolute_clock: bool
    #: the scene's IANA time zone: an absolute clock is shown as local time there
    timezone: str


class Snapshot(msgspec.Struct, tag="snapshot", tag_field="type", omit_defaults=True):
    """The full state of the subscribed fields at ``seq``, every open alarm and every
    open incident."""

    seq: int
    time: float
    domains: dict[str, dict[str, ArrayRef]]
    alarms: list[AlarmSummary]
    stale: list[tuple[str, str]]
    #: every open incident's summary (``GET /api/incidents``: actions without their notes),
    #: worst first (docs/incidents.md); absent when there is none
    incidents: list[IncidentSummary] = []


class Delta(msgspec.Struct, tag="delta", tag_field="type", omit_defaults=True):
    """What changed from ``base`` (exclusive) to ``seq`` (inclusive). A client that was
    slow gets several ticks merged into one delta (latest values win); ``events`` then
    holds every alarm event of those ticks, in order."""

    base: int
    seq: int
    time: float
    domains: dict[str, dict[str, FieldDelta]]
    events: list[AlarmEventInfo]
    stale: list[tuple[str, str]]
    #: the summary of every incident changed from ``base`` to ``seq``, as it is at ``seq``
    #: (once each, however many ticks were merged); absent when none changed
    incidents: list[IncidentSummary] = []


class Result(msgspec.Struct, tag="result", tag_field="type"):
    """The answer to a client request with the same ``request`` number."""

    request: int
    ok: bool
    error: str = ""
    alarm: AlarmSummary | None = None
    #: what a request did but could not do as asked: a replay branch's re-run warnings
    #: (a recorded operator action that found nothing to act on), one line each
    warnings: list[str] = []


class Error(msgspec.Struct, tag="error", tag_field="type"):
    """A problem with something the client sent; repeated problems close the socket."""

    code: ErrorCode
    message: str


class ReplayState(msgspec.Struct, tag="replay", tag_field="type"):
    """The replay's timeline, sent after the Hello of a replaying server and on every
    change a director makes; every screen follows it. ``marks`` are the (time, level)
    of each alarm raise and escalation, for the timeline."""

    playing: bool
    speed: float
    time: float
    start: float
    end: float
    marks: list[list[float]]
    drill: str = ""


class Camera(msgspec.Struct, tag="camera", tag_field="type"):
    """Where the leading screen of ``channel`` looks: the camera's ``position`` and the
    point it orbits (``target``), scene metres, z up. Sent to every client whose
    Subscribe follows that channel (never back to the leader), and at once to a new
    follower when the channel has a camera already."""

    channel: str
    position: tuple[float, float, float]
    target: tuple[float, float, float]


class ExerciseMessage(msgspec.Struct, tag="exercise_message", tag_field="type"):
    """A message inject of a live exercise (docs/exercises.md), sent to every screen at
    its moment: a resident's phone call (``call``), a report from the field
    (``field_report``), a press enquiry (``press``) or another message (``other``), from
    whom and what they say. ``n`` is its number in the exercise's timeline, ``time`` the
    twin's clock when it came. Screens show it as a banner and in the alarm list's feed;
    ``GET /api/exercise/messages`` lists those sent so far, for a screen that connects later."""

    #: its number in the exercise's timeline of injects
    n: int
    #: the twin's clock when it came
    time: float
    #: what it is
    kind: Literal["call", "field_report", "press", "other"]
    #: who it is from, as the players would hear it
    sender: str = msgspec.field(name="from")
    #: what they say
    text: str
    #: who it is from, in Chinese ("": not given)
    from_zh: str = ""
    #: what they say, in Chinese ("": not given)
    text_zh: str = ""


ServerMessage = Hello | Snapshot | Delta | Result | Error | ReplayState | Camera | ExerciseMessage

# --------------------------------------------------------------- client -> server


class Subscribe(msgspec.Struct, tag="subscribe", tag_field="type", forbid_unknown_fields=True):
    """Choose what to receive; may be sent again at any time.

    ``domains`` maps a domain to the fields wanted (an empty list: all its live fields);
    omitted or null means every field of every domain. ``since`` is the last ``seq`` the
    client applied (after a reconnect) and ``epoch`` the Hello's epoch it belongs to: the
    server sends the missed deltas merged if it is the same run and still holds them,
    else a snapshot. Resume with the same ``domains`` as before. ``follow`` names a
    camera channel whose Camera messages this client wants (see CameraUpdate)."""

    domains: dict[str, list[str]] | None = None
    since: int | None = None
    epoch: str | None = None
    #: a camera channel to follow: the server then relays that channel's Camera
    #: messages (the last one at once); null follows none
    follow: str | None = None


class AlarmAction(msgspec.Struct, tag="alarm_action", tag_field="type", forbid_unknown_fields=True):
    """Acknowledge, dispatch or resolve an alarm (operator role or above)."""

    request: int
    alarm: int
    action: Literal["acknowledge", "dispatch", "resolve"]
    note: str = ""
    unit: str = ""


class Ping(msgspec.Struct, tag="ping", tag_field="type", forbid_unknown_fields=True):
    """Answered by a Result with the same request number."""

    request: int = 0


class ReplayControl(msgspec.Struct, tag="replay_control", tag_field="type", forbid_unknown_fields=True):
    """Play, pause, seek (``time`` in simulation seconds) or set the ``speed`` (0.25 to
    64) of a replay, or ``branch``: leave the replay and run the twin live from the
    current moment. Director role or above. Answered by a Result (a branch's carries its
    re-run's ``warnings``); every screen then gets the new ReplayState (and, after a seek
    or a branch, a Snapshot)."""

    request: int
    action: Literal["play", "pause", "seek", "speed", "branch"]
    time: float | None = None
    speed: float | None = None


class CameraUpdate(msgspec.Struct, tag="camera_update", tag_field="type", forbid_unknown_fields=True):
    """Lead a camera channel: where this screen's camera is (``position``) and the point
    it orbits (``target``), scene metres, z up. Any role may lead. The server relays it
    as a Camera to the channel's followers and keeps it for new ones; updates closer
    than 0.1 s apart from one client are ignored. Not answered."""

    channel: str
    position: tuple[float, float, float]
    target: tuple[float, float, float]


class Confirm(msgspec.Struct, tag="confirm", tag_field="type", forbid_unknown_fields=True):
    """The client has applied every Snapshot and Delta up to ``seq``. Optional: a client
    that sends one after each delta it applied is sent its next delta only once it has
    confirmed the last one (the ticks between merged into it), so that a client reading
    slowly gets fresh merged deltas whatever the buffers between it and the server hold
    (see "Slow clients" in docs/protocol.md). Not answered."""

    seq: int


ClientMessage = Subscribe | AlarmAction | Ping | ReplayControl | CameraUpdate | Confirm

# ------------------------------------------------------------------------ framing

_header_encoder = msgspec.msgpack.Encoder()
_client_decoder = msgspec.msgpack.Decoder(ClientMessage)
_server_decoder = msgspec.msgpack.Decoder(ServerMessage)


class Body:
    """Collects arrays for one message and hands out their refs."""

    def __init__(self) -> None:
        self.parts: list[bytes | memoryview] = []
        self.size = 0

    def add(self, array: np.ndarray) -> ArrayRef:
        if array.dtype == np.bool_:
            array = array.view(np.uint8)
        array = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
        ref = ArrayRef(array.dtype.str, self.size, int(array.size))
        data = memoryview(array).cast("B")
        self.parts.append(data)
        self.size += data.nbytes
        pad = -self.size % ALIGN
        if pad:
            self.parts.append(b"\0" * pad)
            self.size += pad
        return ref


def encode(message: msgspec.Struct, body: Body | None = None) -> bytes:
    """One frame: header length, header, padding, body."""
    header = _header_encoder.encode(message)
    lead = 4 + len(header)
    pad = -lead % ALIGN if body is not None and body.size else 0
    parts: list[bytes | memoryview] = [struct.pack("<I", len(header)), header, b"\0" * pad]
    if body is not None:
        parts.extend(body.parts)
    return b"".join(parts)


def body_offset(frame: bytes | memoryview) -> int:
    (n,) = struct.unpack_from("<I", frame, 0)
    lead = 4 + n
    return lead + (-lead % ALIGN)


def decode_client(frame: bytes) -> ClientMessage:
    """Decode a client's message; raises :class:`ProtocolError` saying what is wrong."""
    if len(frame) > MAX_CLIENT_MESSAGE:
        raise ProtocolError("too_large", f"message of {len(frame)} bytes; the limit is {MAX_CLIENT_MESSAGE}")
    if len(frame) < 4:
        raise ProtocolError("malformed", "a message starts with a 4-byte little-endian header length")
    (n,) = struct.unpack_from("<I", frame, 0)
    if n != len(frame) - 4:
        raise ProtocolError("malformed", f"header length says {n} bytes; the message carries {len(frame) - 4}")
    try:
        return _client_decoder.decode(frame[4:])
    except msgspec.ValidationError as exc:
        raise ProtocolError("invalid", f"{exc}; valid types: subscribe, alarm_action, ping, replay_control, camera_update, confirm") from None
    except msgspec.DecodeError as exc:
        raise ProtocolError("malformed", f"not msgpack: {exc}") from None


def decode_server(frame: bytes) -> tuple[ServerMessage, int]:
    """Decode a server message (for Python clients): the message and the body's offset."""
    (n,) = struct.unpack_from("<I", frame, 0)
    return _server_decoder.decode(frame[4 : 4 + n]), body_offset(frame)


def view(frame: bytes, base: int, ref: ArrayRef) -> np.ndarray:
    """The array a ref points at, as a read-only view into the frame (no copy)."""
    return np.frombuffer(frame, dtype=np.dtype(ref.dtype), count=ref.count, offset=base + ref.offset)


def encode_client(message: msgspec.Struct) -> bytes:
    header = _header_encoder.encode(message)
    return struct.pack("<I", len(header)) + header


class ProtocolError(Exception):
    """A client's message refused with an :class:`ErrorCode` (a code outside the enum is
    a bug, refused here: ValueError)."""

    def __init__(self, code: ErrorCode | str, message: str) -> None:
        super().__init__(message)
        self.code = ErrorCode(code)
