// generated, do not edit: written by scripts/gen-protocol-js from twin/serving/protocol.py
// (the one declaration of every message of protocol v1). tests/test_protocol_js.py checks it.

export const PROTOCOL_VERSION = 1;
export const SUBPROTOCOL = "lifeline-twin.v1";
/** body arrays start at multiples of this many bytes */
export const ALIGN = 8;
export const MAX_CLIENT_MESSAGE = 65536;
/** the per-row stale mask (|u1) a domain with sensors carries besides its Hello's fields */
export const STALE_ROWS_FIELD = "stale";
/** the msgpack key that holds a message's type tag */
export const TAG_FIELD = "type";

/** SERVER_MESSAGES: name -> {tag, fields, required} */
export const SERVER_MESSAGES = Object.freeze({
  /** First message after connecting: the schema and the clock. */
  // protocol: number, server: string, epoch: string, scene: string, title: string, title_zh: string, time: number, seq: number, dt: number, mode: string, role: string, domains: Array<DomainInfo>, levels: Object<string, Array<string>>, level_thresholds: Array<number>, absolute_clock: boolean, timezone: string
  Hello: Object.freeze({ tag: "hello", fields: ["protocol", "server", "epoch", "scene", "title", "title_zh", "time", "seq", "dt", "mode", "role", "domains", "levels", "level_thresholds", "absolute_clock", "timezone"], required: ["protocol", "server", "epoch", "scene", "title", "title_zh", "time", "seq", "dt", "mode", "role", "domains", "levels", "level_thresholds", "absolute_clock", "timezone"] }),
  /** The full state of the subscribed fields at ``seq``, every open alarm and every open incident. */
  // seq: number, time: number, domains: Object<string, Object<string, ArrayRef>>, alarms: Array<AlarmSummary>, stale: Array<[string, string]>, incidents: Array<IncidentSummary>
  Snapshot: Object.freeze({ tag: "snapshot", fields: ["seq", "time", "domains", "alarms", "stale", "incidents"], required: ["seq", "time", "domains", "alarms", "stale"] }),
  /** What changed from ``base`` (exclusive) to ``seq`` (inclusive). A client that was slow gets several ticks merged into one delta (latest values win); ``events`` then holds every alarm event of those ticks, in order. */
  // base: number, seq: number, time: number, domains: Object<string, Object<string, FieldDelta>>, events: Array<AlarmEventInfo>, stale: Array<[string, string]>, incidents: Array<IncidentSummary>
  Delta: Object.freeze({ tag: "delta", fields: ["base", "seq", "time", "domains", "events", "stale", "incidents"], required: ["base", "seq", "time", "domains", "events", "stale"] }),
  /** The answer to a client request with the same ``request`` number. */
  // request: number, ok: boolean, error: string, alarm: AlarmSummary | null, warnings: Array<string>
  Result: Object.freeze({ tag: "result", fields: ["request", "ok", "error", "alarm", "warnings"], required: ["request", "ok"] }),
  /** A problem with something the client sent; repeated problems close the socket. */
  // code: ErrorCode, message: string
  Error: Object.freeze({ tag: "error", fields: ["code", "message"], required: ["code", "message"] }),
  /** The replay's timeline, sent after the Hello of a replaying server and on every change a director makes; every screen follows it. ``marks`` are the (time, level) of each alarm raise and escalation, for the timeline. */
  // playing: boolean, speed: number, time: number, start: number, end: number, marks: Array<Array<number>>, drill: string
  ReplayState: Object.freeze({ tag: "replay", fields: ["playing", "speed", "time", "start", "end", "marks", "drill"], required: ["playing", "speed", "time", "start", "end", "marks"] }),
  /** Where the leading screen of ``channel`` looks: the camera's ``position`` and the point it orbits (``target``), scene metres, z up. Sent to every client whose Subscribe follows that channel (never back to the leader), and at once to a new follower when the channel has a camera already. */
  // channel: string, position: [number, number, number], target: [number, number, number]
  Camera: Object.freeze({ tag: "camera", fields: ["channel", "position", "target"], required: ["channel", "position", "target"] }),
  /** A message inject of a live exercise (docs/exercises.md), sent to every screen at its moment: a resident's phone call (``call``), a report from the field (``field_report``), a press enquiry (``press``) or another message (``other``), from whom and what they say. ``n`` is its number in the exercise's timeline, ``time`` the twin's clock when it came. Screens show it as a banner and in the alarm list's feed; ``GET /api/exercise/messages`` lists those sent so far, for a screen that connects later. */
  // n: number, time: number, kind: "call" | "field_report" | "press" | "other", from: string, text: string, from_zh: string, text_zh: string
  ExerciseMessage: Object.freeze({ tag: "exercise_message", fields: ["n", "time", "kind", "from", "text", "from_zh", "text_zh"], required: ["n", "time", "kind", "from", "text"] }),
});

/** CLIENT_MESSAGES: name -> {tag, fields, required} */
export const CLIENT_MESSAGES = Object.freeze({
  /** Choose what to receive; may be sent again at any time. ``domains`` maps a domain to the fields wanted (an empty list: all its live fields); omitted or null means every field of every domain. ``since`` is the last ``seq`` the client applied (after a reconnect) and ``epoch`` the Hello's epoch it belongs to: the server sends the missed deltas merged if it is the same run and still holds them, else a snapshot. Resume with the same ``domains`` as before. ``follow`` names a camera channel whose Camera messages this client wants (see CameraUpdate). */
  // domains: Object<string, Array<string>> | null, since: number | null, epoch: string | null, follow: string | null
  Subscribe: Object.freeze({ tag: "subscribe", fields: ["domains", "since", "epoch", "follow"], required: [] }),
  /** Acknowledge, dispatch or resolve an alarm (operator role or above). */
  // request: number, alarm: number, action: "acknowledge" | "dispatch" | "resolve", note: string, unit: string
  AlarmAction: Object.freeze({ tag: "alarm_action", fields: ["request", "alarm", "action", "note", "unit"], required: ["request", "alarm", "action"] }),
  /** Answered by a Result with the same request number. */
  // request: number
  Ping: Object.freeze({ tag: "ping", fields: ["request"], required: [] }),
  /** Play, pause, seek (``time`` in simulation seconds) or set the ``speed`` (0.25 to 64) of a replay, or ``branch``: leave the replay and run the twin live from the current moment. Director role or above. Answered by a Result (a branch's carries its re-run's ``warnings``); every screen then gets the new ReplayState (and, after a seek or a branch, a Snapshot). */
  // request: number, action: "play" | "pause" | "seek" | "speed" | "branch", time: number | null, speed: number | null
  ReplayControl: Object.freeze({ tag: "replay_control", fields: ["request", "action", "time", "speed"], required: ["request", "action"] }),
  /** Lead a camera channel: where this screen's camera is (``position``) and the point it orbits (``target``), scene metres, z up. Any role may lead. The server relays it as a Camera to the channel's followers and keeps it for new ones; updates closer than 0.1 s apart from one client are ignored. Not answered. */
  // channel: string, position: [number, number, number], target: [number, number, number]
  CameraUpdate: Object.freeze({ tag: "camera_update", fields: ["channel", "position", "target"], required: ["channel", "position", "target"] }),
  /** The client has applied every Snapshot and Delta up to ``seq``. Optional: a client that sends one after each delta it applied is sent its next delta only once it has confirmed the last one (the ticks between merged into it), so that a client reading slowly gets fresh merged deltas whatever the buffers between it and the server hold (see "Slow clients" in docs/protocol.md). Not answered. */
  // seq: number
  Confirm: Object.freeze({ tag: "confirm", fields: ["seq"], required: ["seq"] }),
});

/** STRUCTS: name -> {tag, fields, required} */
export const STRUCTS = Object.freeze({
  /** A typed array in the body: numpy dtype string (``<f4``, ``<f8``, ``<u4``, ``|u1``...), byte offset from the body start (a multiple of 8), element count. */
  // dtype: string, offset: number, count: number
  ArrayRef: Object.freeze({ tag: null, fields: ["dtype", "offset", "count"], required: ["dtype", "offset", "count"] }),
  // name: string, dtype: string, unit: string, valid: [number | null, number | null], description: string, attribute: boolean, label_zh: string, resolution: number
  FieldInfo: Object.freeze({ tag: null, fields: ["name", "dtype", "unit", "valid", "description", "attribute", "label_zh", "resolution"], required: ["name", "dtype", "unit", "valid", "description", "attribute"] }),
  // name: string, title: string, title_zh: string, kinds: Array<string>, ids: Array<string>, kind: ArrayRef, fields: Array<FieldInfo>, style: ViewerStyle | null
  DomainInfo: Object.freeze({ tag: null, fields: ["name", "title", "title_zh", "kinds", "ids", "kind", "fields", "style"], required: ["name", "title", "title_zh", "kinds", "ids", "kind", "fields"] }),
  /** Rows (``<u4``) whose value changed, and their new values (the field's dtype). */
  // rows: ArrayRef, values: ArrayRef
  FieldDelta: Object.freeze({ tag: null, fields: ["rows", "values"], required: ["rows", "values"] }),
  /** One alarm change: raise, escalate, deescalate, clear, overdue, acknowledge, dispatch, resolve. ``alarm`` is the alarm's record after the change, summarised: its operator actions without their notes (``note`` is this event's own; ``GET /api/alarms/{id}`` gives every note). */
  // kind: "raise" | "escalate" | "deescalate" | "clear" | "overdue" | "acknowledge" | "dispatch" | "resolve", time: number, alarm: AlarmSummary, who: string, note: string
  AlarmEventInfo: Object.freeze({ tag: null, fields: ["kind", "time", "alarm", "who", "note"], required: ["kind", "time", "alarm"] }),
});

export const ALARM_ACTIONS = Object.freeze(["acknowledge", "dispatch", "resolve"]);
/** message type tag -> message name, for the tags the server sends */
export const SERVER_TAGS = Object.freeze({"hello": "Hello", "snapshot": "Snapshot", "delta": "Delta", "result": "Result", "error": "Error", "replay": "ReplayState", "camera": "Camera", "exercise_message": "ExerciseMessage"});
