// generated, do not edit: written by scripts/gen-protocol-dts from twin/serving/protocol.py
// (the one declaration of every message of protocol v1) and the REST answers the viewer reads
// (twin/serving/routes, history_api.py). tests/test_typescript.py checks it.
// The types of protocol.generated.js (tsc reads this file in its place), of every message and answer.

export declare const PROTOCOL_VERSION: 1;
export declare const SUBPROTOCOL: "lifeline-twin.v1";
/** body arrays start at multiples of this many bytes */
export declare const ALIGN: 8;
export declare const MAX_CLIENT_MESSAGE: 65536;
/** the per-row stale mask (|u1) a domain with sensors carries besides its Hello's fields */
export declare const STALE_ROWS_FIELD: "stale";
/** the msgpack key that holds a message's type tag */
export declare const TAG_FIELD: "type";

/** A message's or struct's wire names: its tag, every field, the fields it must carry. */
export interface MessageSpec {
  readonly tag: string | null;
  readonly fields: readonly string[];
  readonly required: readonly string[];
}

export declare const SERVER_MESSAGES: {
  readonly Hello: MessageSpec;
  readonly Snapshot: MessageSpec;
  readonly Delta: MessageSpec;
  readonly Result: MessageSpec;
  readonly Error: MessageSpec;
  readonly ReplayState: MessageSpec;
  readonly Camera: MessageSpec;
  readonly ExerciseMessage: MessageSpec;
};
export declare const CLIENT_MESSAGES: {
  readonly Subscribe: MessageSpec;
  readonly AlarmAction: MessageSpec;
  readonly Ping: MessageSpec;
  readonly ReplayControl: MessageSpec;
  readonly CameraUpdate: MessageSpec;
  readonly Confirm: MessageSpec;
};
export declare const STRUCTS: {
  readonly ArrayRef: MessageSpec;
  readonly FieldInfo: MessageSpec;
  readonly DomainInfo: MessageSpec;
  readonly FieldDelta: MessageSpec;
  readonly AlarmEventInfo: MessageSpec;
};
export declare const ALARM_ACTIONS: readonly ["acknowledge", "dispatch", "resolve"];
/** message type tag -> message name, for the tags the server sends */
export declare const SERVER_TAGS: {
  readonly "hello": "Hello";
  readonly "snapshot": "Snapshot";
  readonly "delta": "Delta";
  readonly "result": "Result";
  readonly "error": "Error";
  readonly "replay": "ReplayState";
  readonly "camera": "Camera";
  readonly "exercise_message": "ExerciseMessage";
};

/** First message after connecting: the schema and the clock. */
export interface Hello {
  type: "hello";
  protocol: number;
  server: string;
  epoch: string;
  scene: string;
  title: string;
  title_zh: string;
  time: number;
  seq: number;
  dt: number;
  mode: string;
  role: string;
  domains: Array<DomainInfo>;
  levels: Record<string, Array<string>>;
  level_thresholds: Array<number>;
  absolute_clock: boolean;
  timezone: string;
}

export interface DomainInfo {
  name: string;
  title: string;
  title_zh: string;
  kinds: Array<string>;
  ids: Array<string>;
  kind: ArrayRef;
  fields: Array<FieldInfo>;
  style: ViewerStyle | null;
}

/** A typed array in the body: numpy dtype string (``<f4``, ``<f8``, ``<u4``, ``|u1``...), byte offset from the body start (a multiple of 8), element count. */
export interface ArrayRef {
  dtype: string;
  offset: number;
  count: number;
}

export interface FieldInfo {
  name: string;
  dtype: string;
  unit: string;
  valid: [number | null, number | null];
  description: string;
  attribute: boolean;
  label_zh: string;
  resolution: number;
}

/** How the viewer draws a domain (a plugin's ViewerStyle): legend colour, labels in both languages, the field it is coloured by. */
export interface ViewerStyle {
  domain: string;
  label: string;
  label_zh: string;
  color: string;
  colour_field: string | null;
  field_labels_zh: Record<string, string>;
}

/** The full state of the subscribed fields at ``seq``, every open alarm and every open incident. */
export interface Snapshot {
  type: "snapshot";
  seq: number;
  time: number;
  domains: Record<string, Record<string, ArrayRef>>;
  alarms: Array<AlarmSummary>;
  stale: Array<[string, string]>;
  incidents?: Array<IncidentSummary>;
}

/** An alarm's record (``Alarm.summary()``): in the stream (``Snapshot.alarms``, an event's ``alarm``, ``Result.alarm``) and the lists of the HTTP API each operator action comes without its note; ``GET /api/alarms/{id}`` and an action's answer give the full record, the same keys with every note. */
export interface AlarmSummary {
  id: number;
  asset: string;
  domain: string;
  rule: string;
  title: string;
  title_zh: string;
  owner: string;
  level: number;
  peak_level: number;
  state: "raised" | "acknowledged" | "dispatched" | "resolved";
  since: number;
  updated: number;
  level_since: number;
  overdue: boolean;
  condition_active: boolean;
  dispatched_to: string;
  history: Array<LevelChange>;
  actions: Array<AlarmActionTaken>;
}

/** A level an alarm took (``history``), in order: when, and which. */
export interface LevelChange {
  time: number;
  level: number;
}

/** An operator action on an alarm: what, who acted, the simulation time, the unit dispatched to (``""`` but for a dispatch). ``note`` is in the full record only (``GET /api/alarms/{id}``); summaries leave it out. */
export interface AlarmActionTaken {
  action: "acknowledge" | "dispatch" | "resolve";
  who: string;
  time: number;
  note?: string;
  unit: string;
}

/** An incident as the stream (``Snapshot.incidents``, ``Delta.incidents``) and ``GET /api/incidents`` carry it (``Incident.summary()``): its record with each action without its note, and its response times. */
export interface IncidentSummary {
  id: number;
  title: string;
  title_zh: string;
  place: string;
  place_zh: string;
  level: number;
  peak_level: number;
  level_since: number;
  worst_alarm: number;
  domain: string;
  rule: string;
  state: "open" | "acknowledged" | "dispatched" | "closed";
  opened: number;
  updated: number;
  owner: string;
  alarms: Array<number>;
  assets: Array<string>;
  domains: Array<string>;
  outline: Array<Array<number>>;
  active: boolean;
  onset: number | null;
  dispatched_to: string;
  crew: "" | "accepted" | "on_site" | "working" | "done";
  closed: number | null;
  actions: Array<IncidentActionTaken>;
  escalations: Array<Escalation>;
  times: ResponseTimes;
}

/** An action on an incident: an operator's (acknowledge, dispatch, close) or its field crew's (accept, arrive, work, done, with the ``cause`` found, a ``photo``'s file name and the report's idempotency ``key`` when given). ``note`` is in the whole record only (``GET /api/incidents/{id}``). */
export interface IncidentActionTaken {
  action: "acknowledge" | "dispatch" | "close" | "accept" | "arrive" | "work" | "done";
  who: string;
  time: number;
  note?: string;
  unit: string;
  cause?: string;
  photo?: string;
  key?: string;
}

/** A missed deadline of an incident and who was told (twin.loop.escalation): when, the step not done (acknowledge, dispatch, close), when it was due, its deadline (s), the incident's peak level, from whom to whom it was handed up (``from_zh``, ``to_zh``: in Chinese, "" when the chain gives none; ``from_zh`` is missing in records of before), the role and channels of the one told, and a one-line summary. */
export interface Escalation {
  time: number;
  step: "acknowledge" | "dispatch" | "close";
  due: number;
  deadline: number;
  level: number;
  from: string;
  from_zh?: string;
  to: string;
  to_zh: string;
  role: string;
  channels: Array<string>;
  summary: string;
}

/** Seconds from an incident's onset to its opening (``detect``: the earliest moment one of its alarms' conditions reached the threshold it was raised at, its rule's dwell before the raise), and from its opening to its first acknowledge, dispatch, arrive (its crew on site) and close; null for a step not (yet) taken. */
export interface ResponseTimes {
  detect: number | null;
  acknowledge: number | null;
  dispatch: number | null;
  arrive: number | null;
  close: number | null;
}

/** What changed from ``base`` (exclusive) to ``seq`` (inclusive). A client that was slow gets several ticks merged into one delta (latest values win); ``events`` then holds every alarm event of those ticks, in order. */
export interface Delta {
  type: "delta";
  base: number;
  seq: number;
  time: number;
  domains: Record<string, Record<string, FieldDelta>>;
  events: Array<AlarmEventInfo>;
  stale: Array<[string, string]>;
  incidents?: Array<IncidentSummary>;
}

/** Rows (``<u4``) whose value changed, and their new values (the field's dtype). */
export interface FieldDelta {
  rows: ArrayRef;
  values: ArrayRef;
}

/** One alarm change: raise, escalate, deescalate, clear, overdue, acknowledge, dispatch, resolve. ``alarm`` is the alarm's record after the change, summarised: its operator actions without their notes (``note`` is this event's own; ``GET /api/alarms/{id}`` gives every note). */
export interface AlarmEventInfo {
  kind: "raise" | "escalate" | "deescalate" | "clear" | "overdue" | "acknowledge" | "dispatch" | "resolve";
  time: number;
  alarm: AlarmSummary;
  who: string;
  note: string;
}

/** The answer to a client request with the same ``request`` number. */
export interface Result {
  type: "result";
  request: number;
  ok: boolean;
  error: string;
  alarm: AlarmSummary | null;
  warnings: Array<string>;
}

/** A problem with something the client sent; repeated problems close the socket. */
export interface Error {
  type: "error";
  code: ErrorCode;
  message: string;
}

/** The ``code`` of an :class:`Error` message (the table of ``docs/protocol.md``, section Error, is checked against this enum). */
export type ErrorCode = "malformed" | "invalid" | "too_large" | "too_many_errors" | "too_many_requests" | "unknown_domain" | "unknown_field" | "protocol_mismatch" | "forbidden_origin" | "unauthorized" | "starting";

/** The replay's timeline, sent after the Hello of a replaying server and on every change a director makes; every screen follows it. ``marks`` are the (time, level) of each alarm raise and escalation, for the timeline. */
export interface ReplayState {
  type: "replay";
  playing: boolean;
  speed: number;
  time: number;
  start: number;
  end: number;
  marks: Array<Array<number>>;
  drill: string;
}

/** Where the leading screen of ``channel`` looks: the camera's ``position`` and the point it orbits (``target``), scene metres, z up. Sent to every client whose Subscribe follows that channel (never back to the leader), and at once to a new follower when the channel has a camera already. */
export interface Camera {
  type: "camera";
  channel: string;
  position: [number, number, number];
  target: [number, number, number];
}

/** A message inject of a live exercise (docs/exercises.md), sent to every screen at its moment: a resident's phone call (``call``), a report from the field (``field_report``), a press enquiry (``press``) or another message (``other``), from whom and what they say. ``n`` is its number in the exercise's timeline, ``time`` the twin's clock when it came. Screens show it as a banner and in the alarm list's feed; ``GET /api/exercise/messages`` lists those sent so far, for a screen that connects later. */
export interface ExerciseMessage {
  type: "exercise_message";
  n: number;
  time: number;
  kind: "call" | "field_report" | "press" | "other";
  from: string;
  text: string;
  from_zh: string;
  text_zh: string;
}

/** Choose what to receive; may be sent again at any time. ``domains`` maps a domain to the fields wanted (an empty list: all its live fields); omitted or null means every field of every domain. ``since`` is the last ``seq`` the client applied (after a reconnect) and ``epoch`` the Hello's epoch it belongs to: the server sends the missed deltas merged if it is the same run and still holds them, else a snapshot. Resume with the same ``domains`` as before. ``follow`` names a camera channel whose Camera messages this client wants (see CameraUpdate). */
export interface Subscribe {
  type: "subscribe";
  domains?: Record<string, Array<string>> | null;
  since?: number | null;
  epoch?: string | null;
  follow?: string | null;
}

/** Acknowledge, dispatch or resolve an alarm (operator role or above). */
export interface AlarmAction {
  type: "alarm_action";
  request: number;
  alarm: number;
  action: "acknowledge" | "dispatch" | "resolve";
  note?: string;
  unit?: string;
}

/** Answered by a Result with the same request number. */
export interface Ping {
  type: "ping";
  request?: number;
}

/** Play, pause, seek (``time`` in simulation seconds) or set the ``speed`` (0.25 to 64) of a replay, or ``branch``: leave the replay and run the twin live from the current moment. Director role or above. Answered by a Result (a branch's carries its re-run's ``warnings``); every screen then gets the new ReplayState (and, after a seek or a branch, a Snapshot). */
export interface ReplayControl {
  type: "replay_control";
  request: number;
  action: "play" | "pause" | "seek" | "speed" | "branch";
  time?: number | null;
  speed?: number | null;
}

/** Lead a camera channel: where this screen's camera is (``position``) and the point it orbits (``target``), scene metres, z up. Any role may lead. The server relays it as a Camera to the channel's followers and keeps it for new ones; updates closer than 0.1 s apart from one client are ignored. Not answered. */
export interface CameraUpdate {
  type: "camera_update";
  channel: string;
  position: [number, number, number];
  target: [number, number, number];
}

/** The client has applied every Snapshot and Delta up to ``seq``. Optional: a client that sends one after each delta it applied is sent its next delta only once it has confirmed the last one (the ticks between merged into it), so that a client reading slowly gets fresh merged deltas whatever the buffers between it and the server hold (see "Slow clients" in docs/protocol.md). Not answered. */
export interface Confirm {
  type: "confirm";
  seq: number;
}

/** One asset: its identity, static attributes, live state and sensors, and its open alarms (summaries), as of frame ``seq`` at ``time``. */
export interface AssetInfo {
  id: string;
  domain: string;
  kind: string;
  owner: string;
  attributes: Record<string, unknown>;
  links: Array<string>;
  geometry: Record<string, unknown>;
  state: Record<string, number | boolean | null>;
  sensors: Array<AssetSensor>;
  time: number;
  seq: number;
  alarms: Array<AlarmSummary>;
}

export interface AssetSensor {
  id: string;
  field: string;
  stale: boolean;
  last_value: number | null;
  last_time: number | null;
}

/** The district: its domains with their fields and sensors' health, and every action. */
export interface SceneInfo {
  name: string;
  title: string;
  title_zh: string;
  origin: Array<number>;
  domains: Record<string, SceneDomain>;
  sensors: number;
  buildings: number;
  time: number;
  actions: Array<ActionInfo>;
}

export interface SceneDomain {
  title: string;
  title_zh: string;
  assets: number;
  kinds: Record<string, number>;
  plugin: string;
  sensors: SensorCounts | null;
  style: ViewerStyle | null;
  fields: Array<SceneField>;
}

export interface SensorCounts {
  sensors: number;
  online: number;
  offline: number;
  suspect: number;
  online_share: number | null;
}

export interface SceneField {
  name: string;
  dtype: string;
  unit: string;
  valid: [number | null, number | null];
  description: string;
  attribute: boolean;
  label_zh: string;
  stale: boolean;
}

/** One action a director (or a drill) may apply: ``POST /api/actions``. */
export interface ActionInfo {
  name: string;
  domain: string;
  plugin: string;
  target: "asset" | "sensor";
  kinds: Array<string>;
  description: string;
  params: Array<ActionParamInfo>;
}

export interface ActionParamInfo {
  name: string;
  unit: string;
  description: string;
  default: number | null;
  valid: [number | null, number | null];
}

export interface LayerList {
  scene: string;
  layers: Array<LayerEntry>;
}

export interface LayerEntry {
  name: string;
  domain: string | null;
  glb: string;
  map: string;
  area: AreaLook | null;
}

/** How an area of the scene (``[[layers.areas]]``) is named and drawn. */
export interface AreaLook {
  title: string;
  title_zh: string;
  colour: string;
  opacity: number;
}

/** What the viewer needs to colour and pick assets: asset ``ids[i]``'s vertices start at ``offsets[i]`` of the layer's mesh. */
export interface LayerMap {
  name: string;
  domain: string | null;
  vertices: number;
  faces: number;
  bytes: number;
  bounds: Array<Array<number>>;
  assets: number;
  ids: Array<string>;
  offsets: Array<number>;
}

/** ``GET /api/history/sensors/{id}`` and ``/api/history/assets/{id}``. */
export interface SeriesAnswer {
  series: string;
  unit: string;
  source: "raw" | "minutes" | "recording";
  from: number;
  to: number;
  step: number | null;
  points: Points;
  thresholds: Array<Threshold>;
  alarms: Array<AlarmMark>;
  truth?: Points;
}

/** Raw points (``t``, ``v``) or buckets (``t`` = the bucket's start, ``min``, ``mean``, ``max``, ``count``); the other keys are absent. */
export interface Points {
  t: Array<number>;
  v?: Array<number | null>;
  min?: Array<number | null>;
  mean?: Array<number | null>;
  max?: Array<number | null>;
  count?: Array<number>;
}

/** The field's value at which an alarm level starts (4 red .. 1 blue). */
export interface Threshold {
  level: number;
  value: number;
}

/** An alarm raised, or escalated, on the asset at ``t``: the level it reached and its id (``GET /api/alarms/{id}``). */
export interface AlarmMark {
  t: number;
  level: number;
  id: number;
}

export interface ActionList {
  actions: Array<ActionInfo>;
}

/** The exercise of this server: ``idle`` (none yet: ``drills`` lists those one may start), ``running`` or ``ended`` (its objectives scored, its debrief written). Moments (``at``, an inject's ``at``/``fired``, a note's ``at``) are seconds from its start; ``time``, ``start`` and ``end`` the twin's clock. */
export interface ExerciseState {
  state: "idle" | "running" | "ended";
  time: number;
  absolute_clock: boolean;
  timezone: string;
  drills: Array<string>;
  drill: string;
  drill_zh: string;
  file: string;
  start: number | null;
  end: number | null;
  at: number;
  duration: number;
  started_by: string;
  ended_by: string;
  end_reason: string;
  injects: Array<Inject>;
  notes: Array<Note>;
  messages: Array<ExerciseMessage>;
  objectives: Array<Objective>;
  left_to_players: Array<string>;
  warnings: Array<string>;
  recording: string;
  debrief: Record<string, string>;
}

/** One inject of the timeline. ``at``: its moment (seconds from the start), moved by delays; ``planned``: the moment the drill (or the controller who added it) gave it. ``fired``: the moment it fired; ``by``: who fired it (``on time``: the schedule, or the controller who fired it early); ``error``: why it failed (state ``failed``). */
export interface Inject {
  n: number;
  kind: "action" | "fault" | "message";
  at: number;
  planned: number;
  state: "pending" | "fired" | "skipped" | "failed";
  source: string;
  action: string;
  target: string;
  params: Record<string, number>;
  message: MessageBody | null;
  fired: number | null;
  by: string;
  error: string;
  log: Array<InjectChange>;
}

/** A message to the players: what it is (``call``, ``field_report``, ``press``, ``other``), who it is from and what they say, each also in Chinese if given. */
export interface MessageBody {
  kind: "call" | "field_report" | "press" | "other";
  from: string;
  from_zh: string;
  text: string;
  text_zh: string;
}

/** One change of an inject: added, fired, delayed (by ``seconds``) or skipped, by whom (``on time``: the schedule), at which moment of the exercise. */
export interface InjectChange {
  what: "add" | "fire" | "delay" | "skip";
  who: string;
  at: number;
  seconds: number | null;
}

/** An observer's note: by whom, when (the twin's clock and the moment of the exercise). */
export interface Note {
  n: number;
  time: number;
  at: number;
  who: string;
  text: string;
}

/** An expectation of the drill as the exercise met it: ``met``, ``not met``, or ``not judged`` (its moment came after the exercise ended). */
export interface Objective {
  text: string;
  status: "met" | "not met" | "not judged";
  detail: string;
  line: number;
  kind: string;
  level: number;
  seconds: number;
  asset: string;
  domain: string;
  rule: string;
  owner: string;
}

/** The messages sent to the players of the exercise running (or last run), in order. */
export interface MessageList {
  messages: Array<ExerciseMessage>;
}

/** Every message the server sends, by name. */
export interface ServerMessages {
  Hello: Hello;
  Snapshot: Snapshot;
  Delta: Delta;
  Result: Result;
  Error: Error;
  ReplayState: ReplayState;
  Camera: Camera;
  ExerciseMessage: ExerciseMessage;
}
/** Every message a client sends, by name. */
export interface ClientMessages {
  Subscribe: Subscribe;
  AlarmAction: AlarmAction;
  Ping: Ping;
  ReplayControl: ReplayControl;
  CameraUpdate: CameraUpdate;
  Confirm: Confirm;
}
export type ServerMessage = Hello | Snapshot | Delta | Result | Error | ReplayState | Camera | ExerciseMessage;
export type ClientMessage = Subscribe | AlarmAction | Ping | ReplayControl | CameraUpdate | Confirm;
