"""The ``twin`` command: serve, check, plugins, plugin new, generate, import.

Heavy imports (numba, the plugins) happen inside the commands, after the data folder
and the Numba cache are set up.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from twin.serving.access import TOKEN_ROLES
from twin.errors import SceneError, TwinError

log = logging.getLogger("twin")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="twin", description="Lifeline Twin: a digital twin of a city's lifelines")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve a scene (the demo district by default) over HTTP and WebSocket")
    serve.add_argument("scene", nargs="?", type=Path, help="scene folder (default: scenes/demo)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--seed", type=int, default=0)
    serve.add_argument("--data", type=Path, help="data folder (default: the user's data directory)")
    serve.add_argument("--config", type=Path, help="TOML with [thresholds.<kernel>] and [alarms] overrides")
    serve.add_argument("--speed", type=float, default=1.0, help="simulation seconds per wall second")
    serve.add_argument("--fast", action="store_true", help="tick as fast as the machine allows")
    serve.add_argument("--dt", type=float, default=1.0, help="tick length in simulation seconds")
    serve.add_argument("--record", type=Path, help="record the live run to this MCAP file")
    serve.add_argument("--plugin-deadline", type=float, metavar="SECONDS",
                       help="stop and quarantine a plugin whose updater, kernel or coupling runs longer than this "
                            "(default: [engine] plugin_deadline of the configuration, else 10)")
    serve.add_argument("--replay", type=Path, help="serve this recording (MCAP) instead of a live twin; a director plays, pauses, seeks")
    serve.add_argument("--allow-origin", action="append", help="a browser Origin allowed on /ws and mutating requests besides the server's own (repeatable)")
    serve.add_argument("--allow-host", action="append", help="a Host name this server is reached by, besides loopback and --host (repeatable; "
                                                             "in tokens mode, giving any turns the Host check on)")
    serve.add_argument("--mqtt", metavar="URL", help="subscribe to the scene's readings at this broker (mqtt://HOST:PORT or mqtts://...); "
                                                     "the twin then runs on the wall clock, fed by the devices (docs/ingest.md)")
    serve.add_argument("--mqtt-user", help="the twin's broker account")
    serve.add_argument("--mqtt-password-file", type=Path, help="a file holding the twin's broker password (first line)")
    serve.add_argument("--exercise", type=Path, metavar="DRILL",
                       help="play this drill live as soon as the twin is up (its scene, seed, tick and tables; the wall "
                            "clock): injects at their moments, people respond, scored at its end (docs/exercises.md)")
    serve.add_argument("--source", choices=["sim", "mqtt"],
                       help="where readings come from: the in-process simulator (sim, the default without --mqtt) or the broker "
                            "(mqtt, the default with --mqtt; the twin has no simulator and sends actions to the field)")

    check = sub.add_parser("check", help="validate a scene and print asset counts per domain and kind")
    check.add_argument("scene", type=Path)
    check.add_argument("--data", type=Path)

    plugins = sub.add_parser("plugins", help="list plugins with version, hooks and status")
    plugins.add_argument("--data", type=Path)
    plugins_sub = plugins.add_subparsers(dest="plugins_command")
    plugins_release = plugins_sub.add_parser("release", help="release a quarantined plugin on a running server once its "
                                                             "cause is fixed (director; docs/operations.md)")
    plugins_release.add_argument("name")
    plugins_release.add_argument("--server", default="http://127.0.0.1:8000", help="the server (default: %(default)s)")
    plugins_release.add_argument("--token", help="a director's token (or set TWIN_TOKEN)")
    plugins_release.add_argument("--note", default="", help="why it may run again, kept on its quarantine alarm")

    plugin = sub.add_parser("plugin", help="plugin authoring")
    plugin_sub = plugin.add_subparsers(dest="plugin_command", required=True)
    new = plugin_sub.add_parser("new", help="write a working plugin project")
    new.add_argument("name")
    new.add_argument("dir", nargs="?", type=Path)

    generate = sub.add_parser("generate", help="write a synthetic city of about N assets")
    generate.add_argument("dir", type=Path)
    generate.add_argument("--assets", type=int, required=True)
    generate.add_argument("--seed", type=int, default=0)
    generate.add_argument("--data", type=Path)

    imp = sub.add_parser("import", help="write a scene from a file in a utility's format (e.g. swmm FILE.inp)")
    imp.add_argument("format", help="the importer's format; `twin plugins` lists them")
    imp.add_argument("file", type=Path)
    imp.add_argument("--out", type=Path, help="scene folder to write (default: the file's name without its suffix)")
    imp.add_argument("--strict", action="store_true",
                     help="refuse a file the importer warns about (each element it leaves out or approximates) and write nothing")
    imp.add_argument("--data", type=Path)

    tail = sub.add_parser("tail", help="connect to a server's stream and print one JSON line per frame")
    tail.add_argument("url", nargs="?", default="ws://127.0.0.1:8000/ws")
    tail.add_argument("--domain", action="append", help="subscribe to this domain only (repeatable)")
    tail.add_argument("--count", type=int, help="stop after this many snapshots and deltas")
    tail.add_argument("--token", help="access token (or set TWIN_TOKEN)")

    token = sub.add_parser("token", help="manage access tokens (stored hashed in the data folder)")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    token_add = token_sub.add_parser("add", help="create a token and print it once")
    token_add.add_argument("role", choices=TOKEN_ROLES, help="viewer, operator, director, admin; device (may only post readings); crew (a field crew's phone: its unit's tasks only); "
                                                                 "observer (watches and notes an exercise)")
    token_add.add_argument("--name")
    token_add.add_argument("--unit", default="", help="a crew token's unit: the incidents dispatched to it are its tasks (/field/)")
    token_add.add_argument("--expires", help="when the token stops working: a duration (12h, 30d, 8w) or a date (2027-01-31, UTC)")
    token_add.add_argument("--data", type=Path)
    token_list = token_sub.add_parser("list", help="the access mode and the tokens (names, roles, expiry, a crew's unit; never the tokens)")
    token_list.add_argument("--data", type=Path)
    token_revoke = token_sub.add_parser("revoke", help="revoke a token by name (the folder stays in tokens mode)")
    token_revoke.add_argument("name")
    token_revoke.add_argument("--data", type=Path)
    token_open = token_sub.add_parser("open", help="switch the data folder back to open mode (no token needed, loopback only); refused while tokens exist")
    token_open.add_argument("--data", type=Path)

    drill = sub.add_parser("drill", help="scripted incidents: check and run drills")
    drill_sub = drill.add_subparsers(dest="drill_command", required=True)
    drill_check = drill_sub.add_parser("check", help="validate a drill file against its scene")
    drill_check.add_argument("file", type=Path)
    drill_check.add_argument("--data", type=Path)
    drill_run = drill_sub.add_parser("run", help="run a drill headless, print its scorecard; exit 1 if an expectation fails")
    drill_run.add_argument("file", type=Path)
    pace = drill_run.add_mutually_exclusive_group()
    pace.add_argument("--speed", type=float, help="simulation seconds per wall second")
    pace.add_argument("--fast", action="store_true", help="as fast as the machine allows (the default)")
    drill_run.add_argument("--record", type=Path, help="write the run to this MCAP file")
    drill_run.add_argument("--background", action="store_true", help="keep the scene's own background incidents")
    drill_run.add_argument("--data", type=Path)

    exercise = sub.add_parser("exercise", help="a live exercise on a running server: a drill played by people (docs/exercises.md)")
    exercise_sub = exercise.add_subparsers(dest="exercise_command", required=True)
    exercise_start = exercise_sub.add_parser("start", help="play a drill on a running server: its injects at their moments "
                                                           "while people respond; scored and debriefed at its end")
    exercise_start.add_argument("file", type=Path)
    exercise_status = exercise_sub.add_parser("status", help="the exercise's timeline of injects, notes and objectives")
    exercise_stop = exercise_sub.add_parser("stop", help="end the exercise now: score it and write its debrief; exit 1 if an "
                                                         "objective was not met")
    for command in (exercise_start, exercise_status, exercise_stop):
        command.add_argument("--url", default="http://127.0.0.1:8000", help="the server (default: %(default)s)")
        command.add_argument("--token", help="a director's token (status: an observer's will do; or set TWIN_TOKEN)")

    record = sub.add_parser("record", help="recordings")
    record_sub = record.add_subparsers(dest="record_command", required=True)
    record_info = record_sub.add_parser("info", help="what is in a recording")
    record_info.add_argument("file", type=Path)

    rerun = sub.add_parser("rerun", help="re-run a recording's inputs through changed configuration; print how alarms differ, "
                                         "re-score its drill, record the rerun and write its report")
    rerun.add_argument("recording", type=Path)
    rerun.add_argument("--config", type=Path, help="TOML with [thresholds.<kernel>] overrides (none: the defaults)")
    rerun.add_argument("--out", type=Path, help="the rerun's recording (default: the recording's name with -rerun.mcap)")
    rerun.add_argument("--report", type=Path, help="folder of the rerun's report (default: the rerun's name with -report)")
    rerun.add_argument("--no-report", action="store_true", help="write no report")
    rerun.add_argument("--lang", choices=["en", "zh-CN"], default="en", help="language of the report")
    rerun.add_argument("--data", type=Path)

    report = sub.add_parser("report", help="write an after-action report (HTML with pictures, and a PDF) of a recording")
    report.add_argument("recording", type=Path)
    report.add_argument("-o", "--out", type=Path, help="folder to write into (default: the recording's name with -report)")
    report.add_argument("--lang", choices=["en", "zh-CN"], default="en", help="language of the report")
    report.add_argument("--data", type=Path)

    branch = sub.add_parser("branch", help="restore a recording's state at a moment and run on from there with other actions")
    branch.add_argument("recording", type=Path)
    branch.add_argument("--at", required=True, help="the branch point: seconds (30, 12.5) or HH:MM:SS of simulation time")
    branch.add_argument("--drill", type=Path, help="a drill whose events (at times after the branch point) and expectations apply")
    branch.add_argument("--duration", help="how long to run on after the branch point, in seconds or HH:MM:SS (default: the drill's end, else 10 min)")
    branch.add_argument("--out", type=Path, required=True, help="the new recording; it names its parent and branch point")
    branch.add_argument("--data", type=Path)

    devices = sub.add_parser("devices", help="the scene's devices and the broker they publish to")
    devices_sub = devices.add_subparsers(dest="devices_command", required=True)
    credentials = devices_sub.add_parser("credentials", help="write a mosquitto password file and ACL from the scene's sensors")
    credentials.add_argument("scene", type=Path)
    credentials.add_argument("--out", type=Path, required=True, help="folder for passwd, acl, devices.csv and twin.password")
    credentials.add_argument("--by", choices=["sensor", "asset"], default="sensor",
                             help="one device account per sensor (default) or per asset with sensors")
    credentials.add_argument("--twin-user", default="twin", help="the twin's broker account (reads the whole district)")
    credentials.add_argument("--fleet-user", default="fleet",
                             help="the device fleet's account (publishes every sensor's readings, reads the commands)")
    credentials.add_argument("--data", type=Path)
    fleet = devices_sub.add_parser("run", help="run the scene's devices as a separate fleet: the ground truth stepped by the plugins, "
                                              "every sensor publishing to the broker, obeying the twin's commands")
    fleet.add_argument("scene", nargs="?", type=Path, help="scene folder (default: scenes/demo)")
    fleet.add_argument("--mqtt", metavar="URL", required=True, help="the broker (mqtt://HOST:PORT or mqtts://...)")
    fleet.add_argument("--mqtt-user", help="the fleet's broker account (it publishes every sensor's topic and reads the commands)")
    fleet.add_argument("--mqtt-password-file", type=Path, help="a file holding the fleet's broker password (first line)")
    fleet.add_argument("--rate", type=float, metavar="HZ",
                       help="readings per second from every sensor (default: each sensor once per reporting period of its "
                            "kind, a third of its expected interval)")
    fleet.add_argument("--speed", type=float, default=1.0, metavar="X",
                       help="seconds of the truth's physics per wall second (default 1); readings keep wall-clock times")
    fleet.add_argument("--seed", type=int, default=0)
    fleet.add_argument("--config", type=Path, help="TOML with [thresholds.<name>] set points the truth obeys (fans, cut-offs)")
    fleet.add_argument("--faults", type=Path, metavar="FILE", help="a TOML file of [[faults]] (at, action, target, params)")
    fleet.add_argument("--fault", action="append", default=[], metavar="FAULT",
                       help="a sensor fault: sensor.stuck:ID, sensor.dead:ID, sensor.drift:ID:RATE (field units per hour), "
                            "sensor.repair:ID; add @SECONDS to start it later (repeatable)")
    fleet.add_argument("--by-gateway", action="store_true",
                       help="gateways buffer each sensor's readings and send them as one JSON array per sensor topic")
    fleet.add_argument("--gateway-every", type=float, default=5.0, metavar="SECONDS",
                       help="how often a gateway sends its buffered readings (default 5)")
    fleet.add_argument("--no-incidents", action="store_true", help="leave out the scene's background incidents")
    fleet.add_argument("--data", type=Path)

    history = sub.add_parser("history", help="the data folder's history store (docs/history.md)")
    history_sub = history.add_subparsers(dest="history_command", required=True)
    export = history_sub.add_parser("export", help="write a time range of readings and historical fields to a Parquet file")
    export.add_argument("out", type=Path, metavar="OUT.parquet")
    export.add_argument("--from", dest="start", required=True, help="epoch seconds or RFC 3339 with its zone (2026-01-01T00:00:00+08:00)")
    export.add_argument("--to", dest="end", help="the same; default: now")
    export.add_argument("--domain", help="only the series of this domain's sensors and assets")
    export.add_argument("--data", type=Path)

    archive = sub.add_parser("archive", help="incidents' case files (docs/incidents.md)")
    archive_sub = archive.add_subparsers(dest="archive_command", required=True)
    case = archive_sub.add_parser("export", help="write one incident's case file: a self-contained HTML page")
    case.add_argument("incident", type=int, help="the incident's id (GET /api/incidents?closed=1 lists them)")
    case.add_argument("--lang", default="zh-CN", help="zh-CN (default) or en")
    case.add_argument("--out", type=Path, help="the file to write (default: incident-<id>-<lang>.html here)")
    case.add_argument("--timezone", default="Asia/Shanghai", help="local time of the case file's clock times (IANA name)")
    case.add_argument("--pdf", action="store_true", help="also write it as an A4 PDF beside the page")
    case.add_argument("--data", type=Path)

    words = sys.argv[1:] if argv is None else argv
    # Plugins' own commands (the twin_cli hook) load the plugins, so only for a command
    # the core does not know.
    plugin_commands = _plugin_commands(sub) if words and words[0] not in sub.choices and words[0][:1] != "-" else {}
    args = parser.parse_args(argv)
    from twin import logs

    logs.setup()
    try:
        if args.command in plugin_commands:
            try:
                return int(plugin_commands[args.command].run(args) or 0)
            except ValueError as exc:  # the plugin's one-line account of bad input
                raise TwinError(str(exc)) from None
        return int(COMMANDS[args.command](args) or 0)
    except SceneError as exc:
        print(f"twin {args.command}: {exc}", file=sys.stderr)
        return 1
    except TwinError as exc:
        print(f"twin {args.command}: {exc}", file=sys.stderr)
        return 2


def _plugin_commands(sub: Any) -> dict[str, Any]:
    """Mount the active plugins' commands (hook ``twin_cli``) on ``sub``: name -> Command.
    A plugin whose hook fails or returns the wrong type, or a name already taken, is
    refused with an error in the log; the others mount."""
    from twin.runtime import prepare_data_dir

    prepare_data_dir(None)  # Numba's cache before the plugins import
    from twin.plugins.registry import load_registry, wrong_return

    registry = load_registry(check_kernels=False)
    mounted: dict[str, Any] = {}
    for name, info in registry.plugins.items():
        hook = getattr(info.module, "twin_cli", None)
        if not registry.active(name) or hook is None:
            continue
        try:
            commands = hook()
        except Exception as exc:
            log.error("plugin commands refused", extra={"plugin": name, "reason": f"twin_cli raised {exc!r}"})
            continue
        wrong = wrong_return("twin_cli", commands)
        if wrong:
            log.error("plugin commands refused", extra={"plugin": name, "reason": wrong})
            continue
        for command in commands:
            if command.name in sub.choices:
                log.error("plugin command refused", extra={"plugin": name, "command": command.name,
                                                           "reason": "the name is already a twin command"})
                continue
            command.arguments(sub.add_parser(command.name, help=command.help))
            mounted[command.name] = command
    return mounted


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from twin.runtime import default_scene, load_config, open_twin, prepare_data_dir
    from twin.serving.server import create_app

    from twin.serving.access import TokenStore

    data = prepare_data_dir(args.data)
    scene = args.scene or default_scene()
    config = load_config(args.config)
    mqtt_password = _serve_mqtt(args)
    if args.exercise is not None:
        scene, config = _serve_exercise(args, config)
    tokens = TokenStore(data)
    if not tokens.enabled:
        if args.host not in ("127.0.0.1", "localhost", "::1"):
            raise TwinError(
                f"refusing to serve on {args.host} without access tokens (the data folder {data} is in open mode); "
                f"create one with `twin token add admin --data {data}` or bind to 127.0.0.1"
            )
        log.warning("open mode, no access tokens: the server is open to anyone on this machine", extra={"data": str(data)})
    elif not tokens.valid():
        log.warning("tokens mode without a valid token: nobody but /api/health gets in; add one with `twin token add ROLE`",
                    extra={"data": str(data)})
    log.info("starting", extra={"scene": str(scene), "data": str(data), "url": f"http://{args.host}:{args.port}/"})

    def build() -> Any:
        if args.replay is not None:
            from twin.runs.replay import Replay

            return Replay(args.replay, data)
        import math
        import time as wallclock

        # Live at the wall's pace, the clock is UTC wall time (epoch seconds, down to the
        # tick), so that alarms, the store and the API never go backwards across a
        # restart; --fast or another speed keeps a simulated clock from the scene's start.
        live = not args.fast and args.speed == 1.0
        start = math.floor(wallclock.time() / args.dt) * args.dt if live else None
        engine = open_twin(scene, data, seed=args.seed, config=config, dt=args.dt, start=start, live=live, simulate=args.source != "mqtt")
        if args.exercise is not None and engine.simulator is not None:
            engine.simulator.incidents = []  # the scene's background incidents are no part of the exercise (as in a drill)
        if args.mqtt is not None:
            from twin.sources.mqtt import district_of

            district_of(engine.scene)  # a scene whose district cannot be a topic level fails the start here
        return engine

    if args.record is not None and args.replay is not None:
        raise TwinError("--record and --replay exclude each other: a replay is a recording already")
    server = create_app(build, speed=args.speed, fast=args.fast, data_dir=data, allowed_origins=tuple(args.allow_origin or ()),
                        record=args.record, allowed_hosts=tuple(args.allow_host or ()), bound_host=args.host,
                        mqtt_url=args.mqtt, mqtt_user=args.mqtt_user, mqtt_password=mqtt_password)
    server.plugin_deadline = args.plugin_deadline
    if args.exercise is not None:
        from twin.serving.routes.exercise import start_on_ready

        start_on_ready(server, args.exercise)
    from twin.serving.stream import uvicorn_options

    # the stream's settings: a client frame past the protocol's limit is refused at its
    # header, before its payload is read (1009); a keepalive that never pre-empts 4008
    uv = uvicorn.Server(uvicorn.Config(server.app, host=args.host, port=args.port, log_level="warning", **uvicorn_options()))

    def fatal(reason: str) -> None:
        uv.should_exit = True

    server.on_fatal = fatal

    def stopped(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    # uvicorn shuts down gracefully on SIGINT (Ctrl-C) and SIGTERM (a service manager's
    # stop), then raises the signal again for whoever runs it, under the handler it found:
    # stopping a server either way is its normal end, exit 0, not an error or a kill
    import signal

    signal.signal(signal.SIGTERM, stopped)
    try:
        uv.run()
    except KeyboardInterrupt:
        pass
    if server.startup_error is not None:
        raise TwinError(f"the twin failed to start: {server.startup_error}")
    return 0


def _serve_exercise(args: argparse.Namespace, config: dict[str, Any]) -> tuple[Path, dict[str, Any]]:
    """twin serve --exercise: the drill's scene, seed, tick and tables (over --config's);
    the drill is checked now (every problem, exit 2), against the scene once it is up."""
    from twin.runs.drill import load_drill

    if args.replay is not None:
        raise TwinError("--exercise and --replay exclude each other: an exercise plays on a live twin")
    drill = load_drill(args.exercise)
    if args.scene is not None and args.scene.resolve() != drill.scene:
        raise TwinError(f"--exercise {args.exercise} plays on its scene {drill.scene}, not {args.scene}; drop the scene argument")
    args.seed, args.dt = drill.seed, drill.dt
    return drill.scene, ({**config, **drill.config} if drill.config else config)


def cmd_exercise(args: argparse.Namespace) -> int:
    from twin.serving.exercise_client import run

    return run(args)


def _serve_mqtt(args: argparse.Namespace) -> str | None:
    """Check twin serve's MQTT options before anything starts (each problem in one line);
    settle ``args.source``. Returns the broker password from --mqtt-password-file, if any."""
    if args.source is None:
        args.source = "mqtt" if args.mqtt else "sim"
    if args.mqtt is None:
        if args.source == "mqtt":
            raise TwinError("--source mqtt needs --mqtt mqtt://HOST:PORT, the broker the devices publish to")
        if args.mqtt_user or args.mqtt_password_file:
            raise TwinError("--mqtt-user and --mqtt-password-file need --mqtt mqtt://HOST:PORT")
        return None
    from twin.sources.mqtt import parse_mqtt_url

    parse_mqtt_url(args.mqtt)
    if args.replay is not None:
        raise TwinError("--mqtt and --replay exclude each other: a replay's readings are the recording's")
    if args.source == "sim":
        raise TwinError("--source sim runs the in-process simulator, which would write over the broker's readings; "
                        "drop --mqtt, or use --source mqtt")
    if args.fast or args.speed != 1.0:
        raise TwinError("--mqtt runs the twin on the wall clock, as its devices do: drop --fast and --speed")
    return _password(args.mqtt_password_file) if args.mqtt_password_file else None


def _password(path: Path) -> str:
    """The first line of a password file."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise TwinError(f"--mqtt-password-file {path}: cannot read it ({getattr(exc, 'strerror', None) or exc})") from None
    if not lines or not lines[0].strip():
        raise TwinError(f"--mqtt-password-file {path}: the first line is empty; write the password on it")
    return lines[0].strip()


def cmd_check(args: argparse.Namespace) -> int:
    from twin.runtime import left_out, open_scene, prepare_data_dir

    prepare_data_dir(args.data)
    from twin.plugins.registry import load_registry

    registry = load_registry()
    scene = open_scene(args.scene, registry)
    total = 0
    print(f"scene {scene.name!r}: {scene.title}")
    for domain, kinds in scene.counts().items():
        n = sum(kinds.values())
        total += n
        detail = ", ".join(f"{k} {v}" for k, v in kinds.items()) or "none"
        print(f"  {domain:<10} {n:>8} assets  ({detail})")
    print(f"  {'sensors':<10} {len(scene.sensors):>8}")
    print(f"  {'buildings':<10} {len(scene.buildings):>8}")
    print(f"  {'incidents':<10} {len(scene.incidents):>8}")
    quarantined = [p for p in registry.plugins.values() if p.status != "active"]
    for p in quarantined:
        print(f"  warning: plugin {p.name} is quarantined: {p.reason.splitlines()[0]}")
    for note, toml in left_out(scene, registry):
        print(f"  note: {note}")
        print("".join(f"      {line}\n" for line in toml.splitlines()), end="")
    print(f"ok: {total} assets")
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    if getattr(args, "plugins_command", None) == "release":
        import os
        from urllib.parse import quote

        from twin.serving.exercise_client import call

        done = call(args.server, f"/api/plugins/{quote(args.name, safe='')}/release", args.token or os.environ.get("TWIN_TOKEN"),
                    {"note": args.note})
        print(f"released plugin {done['name']} on {args.server} (by {done['by']}; it was quarantined: "
              f"{done['was'].splitlines()[0] if done['was'] else ''}); its fields are stale until its next good step")
        return 0
    from twin.runtime import prepare_data_dir

    prepare_data_dir(args.data)
    from twin.plugins.registry import load_registry

    registry = load_registry()
    if not registry.plugins:
        print("no plugins installed (entry-point group 'twin.plugins')")
        return 0
    from twin.plugins.actions import catalogue

    actions = catalogue(registry)
    for p in sorted(registry.plugins.values(), key=lambda p: p.name):
        print(f"{p.name} {p.version}  {p.status}")
        if p.hooks:
            print(f"    hooks: {', '.join(p.hooks)}")
        formats = [f"{f} ({', '.join(i.suffixes)})" for f, (owner, i) in sorted(registry.importers.items()) if owner == p.name]
        if formats:
            print(f"    imports: {', '.join(formats)}")
        if p.reason:
            print(f"    reason: {p.reason.splitlines()[0]}")
        _print_actions([a for a in actions if a["plugin"] == p.name])
    print("core: sensor faults of the simulated world")
    _print_actions([a for a in actions if a["plugin"] == "core"])
    return 0


def _print_actions(actions: list[dict[str, Any]]) -> None:
    from twin.plugins.actions import lines

    if actions:
        print("    actions:")
    for action in actions:
        print("".join(f"      {line}\n" for line in lines(action)), end="")


def cmd_plugin(args: argparse.Namespace) -> int:
    from twin.authoring.scaffold import new_plugin

    path = new_plugin(args.name, Path(args.dir or f"twin-{args.name}"))
    print(f"wrote plugin {args.name!r} to {path}")
    print(f"next: pip install -e {path} && pytest {path}")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from twin.runtime import prepare_data_dir

    prepare_data_dir(args.data)
    from twin.authoring.citygen import blocks_for, plan_city, populate, write_scene
    from twin.plugins.registry import load_registry

    if args.assets < 1:
        raise TwinError("--assets must be a positive number of assets")
    registry = load_registry()
    bx, by = blocks_for(args.assets, registry)
    domains = [g.domain for p, g in registry.generators if registry.active(p)]
    with tqdm(total=len(domains) + 2, desc="generating", unit="step", file=sys.stderr) as bar:
        plan = plan_city(args.seed, bx, by)
        bar.update(1)
        populate(plan, registry, progress=lambda d: (bar.set_postfix_str(d), bar.update(1)))
        write_scene(plan, args.dir, args.dir.name, registry, title=f"Synthetic city ({bx}x{by} blocks)")
        bar.update(1)
    total = sum(len(v) for v in plan.assets.values())
    print(f"wrote {args.dir}: {total} assets in {bx}x{by} blocks, {len(plan.buildings)} buildings, {len(plan.sensors)} sensors")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from twin.runtime import prepare_data_dir

    prepare_data_dir(args.data)
    from twin.plugins.registry import load_registry

    registry = load_registry()
    known = ", ".join(f"{f} ({', '.join(i.suffixes)}, plugin {p})" for f, (p, i) in sorted(registry.importers.items()))
    found = registry.importers.get(args.format)
    if found is None:
        raise TwinError(f"no importer for format {args.format!r}; known: {known or 'none (no active plugin contributes one)'}")
    plugin, importer = found
    if not args.file.is_file():
        raise TwinError(f"{args.file}: no such file")
    if importer.suffixes and args.file.suffix.lower() not in importer.suffixes:
        log.warning("unexpected suffix", extra={"file": str(args.file), "format": importer.format, "expected": list(importer.suffixes)})
    out = args.out or args.file.with_suffix("")
    if args.strict:  # the importer's warnings are errors: try it aside first, write nothing if any
        import tempfile

        with tempfile.TemporaryDirectory() as aside:
            try:
                warned = dict(importer.write(args.file, Path(aside) / "scene")).get("warnings", [])
            except ValueError as exc:
                raise TwinError(str(exc)) from None
        if warned:
            listed = "\n  ".join(warned)
            raise TwinError(f"{args.file}: refused (--strict), {len(warned)} warning(s):\n  {listed}")
    try:
        counts = dict(importer.write(args.file, out))
    except ValueError as exc:  # the importer's error names the file, the line and the field
        raise TwinError(str(exc)) from None
    warnings = counts.pop("warnings", [])
    detail = ", ".join(f"{k} {v}" for k, v in counts.items())
    print(f"wrote {out} from {args.file} ({importer.format}, plugin {plugin}): {detail}")
    for warning in warnings:
        print(f"  warning: {warning}")
    print(f"next: twin check {out}")
    return 0


def cmd_tail(args: argparse.Namespace) -> int:
    import os

    from twin.serving.client import run_tail

    from websockets.exceptions import InvalidHandshake

    try:
        return run_tail(args.url, args.domain, args.count, args.token or os.environ.get("TWIN_TOKEN"))
    except ValueError as exc:
        raise TwinError(str(exc)) from None
    except (OSError, InvalidHandshake) as exc:  # refused, unreachable, or not a twin's stream (HTTP 4xx in the handshake)
        raise TwinError(f"cannot connect to {args.url}: {exc}") from None
    except KeyboardInterrupt:
        return 0


def cmd_token(args: argparse.Namespace) -> int:
    import time

    from twin.serving.access import TokenStore, parse_expiry, utc_text
    from twin.runtime import default_data_dir

    store = TokenStore(args.data or default_data_dir())
    if args.token_command == "add":
        expires = parse_expiry(args.expires) if args.expires else None
        first = not store.enabled
        record, token = store.add(args.role, args.name, expires, args.unit)
        until = f", expires {utc_text(expires)}" if expires is not None else ""
        if first:
            print(f"{store.path.parent} is in tokens mode now: every request but /api/health needs a token")
        unit = f", unit {record.unit}" if record.unit else ""
        print(f"token {record.name!r} ({record.role}{unit}{until}); it is shown only now:")
        print(token)
    elif args.token_command == "list":
        records = store.records()
        if store.mode == "open":
            print(f"no tokens in {store.path}: open mode, the server runs open, on loopback only")
        elif not records:
            print(f"no tokens in {store.path}: tokens mode, so nobody but /api/health gets in; "
                  f"add one with `twin token add ROLE`, or go back to open mode with `twin token open`")
        else:
            print(f"tokens mode ({store.path}): every request but /api/health needs one of these")
        now = time.time()
        for r in records:
            if r.expires is None:
                expiry = "never expires"
            else:
                expiry = f"{'EXPIRED' if r.expired(now) else 'expires'} {utc_text(r.expires)}"
            # a crew token sees its unit's tasks only: which unit is part of what it is
            unit = f"  unit {r.unit}" if r.unit else ""
            print(f"{r.name:<20} {r.role:<9} created {time.strftime('%Y-%m-%d %H:%M', time.localtime(r.created))}  {expiry}{unit}")
    elif args.token_command == "open":
        store.open()
        print(f"{store.path.parent} is in open mode: a server started from it lets anyone on this machine in "
              f"(loopback only); a server already running in tokens mode stays so until restarted")
    else:
        record = store.revoke(args.name)
        left = len(store.valid())
        print(f"revoked {record.name!r} ({record.role})"
              + ("" if left else "; no valid token is left: nobody but /api/health gets in until `twin token add ROLE`"))
    return 0


def cmd_drill(args: argparse.Namespace) -> int:
    from twin.runtime import open_drill, prepare_data_dir

    data = prepare_data_dir(args.data)
    from twin.runs.drill import clock, load_drill

    drill = load_drill(args.file, keep_going=True)  # every problem of the file and against the scene, at once
    engine = open_drill(drill, data)  # checked against the scene and the plugins: a run never meets a bad drill
    if args.drill_command == "check":
        actions = sum(1 for e in drill.events if e.action)
        print(f"ok: {drill.name!r} on scene {engine.scene.name!r}, {clock(drill.duration)}, seed {drill.seed}: "
              f"{actions} actions, {len(drill.events) - actions} operator responses, {len(drill.expectations)} expectations")
        return 0
    from tqdm import tqdm

    from twin.runs.recording import Recorder
    from twin.runs.reruns import run_drill

    recorder = Recorder(args.record, engine, {"drill": drill.name, "drill_path": str(drill.path.resolve())}) if args.record else None
    with tqdm(total=drill.duration, desc=drill.name[:40], unit="sim s", file=sys.stderr, leave=False) as bar:
        result = run_drill(drill, engine, recorder, speed=args.speed, background=args.background,
                           progress=lambda t: bar.update(t - bar.n))
    if recorder is not None:
        recorder.close()
    print(f"drill {drill.name!r}: {clock(drill.duration)} simulated in {result.wall_seconds:.1f} s ({result.ticks} ticks)")
    for line in result.card.lines() if result.card is not None else ():
        print(line)
    for w in result.warnings:
        print(f"  warning: {w}")
    alarms = [e for e in result.events if e["kind"] == "raise"]
    print(f"  alarms raised: {len(alarms)}; expectations met: {sum(s.passed for s in result.scores)}/{len(result.scores)}")
    if args.record:
        print(f"  recorded to {args.record}")
    return 0 if result.passed else 1


def cmd_record(args: argparse.Namespace) -> int:
    from twin.runs.drill import clock
    from twin.runs.recording import info, when

    i = info(args.file)
    if i.complete:
        print(f"{i.path}: complete")
    else:
        held = f"it holds data up to {when(i.end)}" if i.chunks else "it holds no data (cut before its first second was written)"
        print(f"{i.path}: cut short (no MCAP summary: its writer was killed or could not write on); {held}")
    for key in ("scene", "drill", "seed", "dt", "parent", "branch_time", "timezone"):
        if key in i.metadata:
            print(f"  {key:<12} {i.metadata[key]}")
    # a live run's clock is epoch seconds: its span is shown from its start, named in UTC
    start = float(i.metadata.get("start", "0"))
    if start:
        print(f"  {'clock start':<12} {when(start)}")
    print(f"  {'created':<12} {i.created}")
    print(f"  {'span':<12} {clock(i.start - start)} .. {clock(i.end - start)} ({i.end - i.start:g} s), {i.chunks} chunks")
    for topic, n in i.counts.items():
        print(f"  {topic:<18} {n:>8} messages")
    raised = [a for a in i.alarms if a["kind"] == "raise"]
    print(f"  alarms raised: {len(raised)}")
    return 0


def cmd_rerun(args: argparse.Namespace) -> int:
    from twin.runtime import load_config, prepare_data_dir

    prepare_data_dir(args.data)
    from twin.runs.drill import clock
    from twin.runs.recording import RecordingReader
    from twin.runs.reruns import rerun_and_score

    reader = RecordingReader(args.recording)
    start = reader.clock_start  # times are shown from the run's start
    reader.close()
    out = args.out or args.recording.with_name(args.recording.stem + "-rerun.mcap")
    if out.resolve() == args.recording.resolve():
        raise TwinError(f"--out {out}: that is the recording being re-run; name another file")
    report = None if args.no_report else (args.report or out.with_name(out.stem + "-report"))
    result = rerun_and_score(args.recording, load_config(args.config), out, report, lang=args.lang)
    diffs = [d for d in result.diffs if d.change != "same"]
    names = ("", "blue", "yellow", "orange", "red")
    print(f"{len(result.replayed)} alarm events in the rerun, {len(result.recorded)} recorded; {len(diffs)} differences")
    for d in diffs:
        before = clock(d.before - start) if d.before is not None else "-"
        after = clock(d.after - start) if d.after is not None else "-"
        print(f"  {d.asset:<12} {d.rule:<24} {names[d.level]:<7} {before:>9} -> {after:<9} {d.change}")
    if result.card is not None:
        print("the drill's expectations on the rerun:")
        for line in result.card.lines():
            print(line)
    print(f"  recorded to {out}" + (f"; report: {result.report.html}" if result.report is not None else ""))
    for w in result.warnings:  # recorded operator actions the rerun found nothing to act on
        print(f"  warning: {w}")
    return 0 if result.card is None or result.card.passed else 1


def cmd_report(args: argparse.Namespace) -> int:
    from twin.runtime import prepare_data_dir

    prepare_data_dir(args.data)
    from twin.runs.report import write_report

    if not args.recording.is_file():
        raise TwinError(f"{args.recording}: no such recording")
    out = args.out or args.recording.with_name(args.recording.stem + "-report")
    report = write_report(args.recording, out, lang=args.lang)
    print(f"wrote {report.html}" + (f" and {report.pdf}" if report.pdf else "") + f" ({len(report.images)} pictures)")
    for note in report.notes:
        print(f"  note: {note}")
    return 0


def cmd_branch(args: argparse.Namespace) -> int:
    import math

    from twin.runtime import prepare_data_dir

    data = prepare_data_dir(args.data)
    from twin.runs.drill import _seconds, clock, load_drill
    from twin.runs.reruns import run_branch

    def seconds(option: str, text: str) -> float:
        # The command line gives text: "30" and "30.5" are seconds, as is "00:00:30".
        try:
            value: float | None = float(text)
        except ValueError:
            value = _seconds(text)
        if value is None or not math.isfinite(value) or value < 0:
            raise TwinError(f"{option} {text!r}: expected seconds (such as 30 or 12.5) or HH:MM:SS (such as 00:01:40)")
        return value

    at = seconds("--at", args.at)
    duration = seconds("--duration", args.duration) if args.duration is not None else None
    drill = load_drill(args.drill) if args.drill else None
    result = run_branch(args.recording, at, args.out, drill, duration, data)
    print(f"branched {args.recording} at {clock(at)}; ran to {clock(result.end)}; recorded to {args.out}")
    if result.card is None:
        for w in result.warnings:  # recorded operator actions the branch found nothing to act on
            print(f"  warning: {w}")
        return 0
    # one run: before the branch point as recorded, after it as branched
    for line in result.card.lines():
        print(line)
    for w in result.warnings:
        print(f"  warning: {w}")
    return 0 if result.card.passed else 1


def cmd_devices(args: argparse.Namespace) -> int:
    if args.devices_command == "run":
        return cmd_devices_run(args)
    from twin.runtime import open_scene, prepare_data_dir

    prepare_data_dir(args.data)
    from twin.plugins.registry import load_registry
    from twin.sources.credentials import ACL_FILE, DEVICES_CSV, FLEET_PASSWORD, PASSWORD_FILE, TWIN_PASSWORD, write_credentials
    from twin.sources.mqtt import district_of

    scene = open_scene(args.scene, load_registry())
    district = district_of(scene)
    written = write_credentials(scene.sensors, district, args.out, by=args.by, twin_user=args.twin_user,
                                fleet_user=args.fleet_user)
    out = written.folder
    print(f"wrote {out / PASSWORD_FILE} and {out / ACL_FILE}: {written.devices} device accounts ({written.sensors} sensors, "
          f"one account per {args.by}), the twin's {args.twin_user!r} and the fleet's {args.fleet_user!r}, district {district!r}; "
          f"{written.new_passwords} new passwords")
    print(f"  {out / DEVICES_CSV}: each device's user, password and topics (secret: give each device its own row)")
    print(f"  {out / TWIN_PASSWORD}: for twin serve --mqtt-user {args.twin_user} --mqtt-password-file {out / TWIN_PASSWORD}")
    print(f"  {out / FLEET_PASSWORD}: for twin devices run --mqtt-user {args.fleet_user} --mqtt-password-file {out / FLEET_PASSWORD}")
    print(f"  mosquitto.conf: allow_anonymous false, password_file {out.resolve() / PASSWORD_FILE}, acl_file {out.resolve() / ACL_FILE}")
    return 0


def cmd_devices_run(args: argparse.Namespace) -> int:
    from twin.sources.mqtt import parse_mqtt_url

    parse_mqtt_url(args.mqtt)  # a bad URL fails in one line before the scene loads
    for option, value in (("--rate", args.rate), ("--speed", args.speed), ("--gateway-every", args.gateway_every)):
        if value is not None and (not value > 0 or value == float("inf")):
            raise TwinError(f"{option} {value:g}: expected a number above zero")
    password = _password(args.mqtt_password_file) if args.mqtt_password_file else None
    from twin.sources.fleet import load_faults, parse_fault

    faults = [parse_fault(text) for text in args.fault]
    if args.faults is not None:
        faults += load_faults(args.faults)
    from twin.runtime import default_scene, load_config, prepare_data_dir

    prepare_data_dir(args.data)
    config = load_config(args.config)
    from twin.sources.fleet import run_fleet

    return run_fleet(args.scene or default_scene(), args.mqtt, seed=args.seed, config=config, rate=args.rate,
                     speed=args.speed, faults=faults, gateway_every=args.gateway_every if args.by_gateway else None,
                     username=args.mqtt_user, password=password, incidents=not args.no_incidents)


def cmd_history(args: argparse.Namespace) -> int:
    """twin history export: the data folder's history, read only (a serving twin goes on)."""
    import time as wallclock

    from twin.history.export import export, parse_time
    from twin.history.store import HistoryError, Store
    from twin.runtime import default_data_dir

    data = args.data or default_data_dir()
    try:
        start = parse_time(args.start, "--from")
        end = parse_time(args.end, "--to") if args.end is not None else wallclock.time()
        store = Store(data / "history", readonly=True)
        try:
            done = export(store, args.out, start, end, args.domain, progress=lambda line: print(line, file=sys.stderr))
        finally:
            store.close()
    except (HistoryError, OSError) as exc:
        raise TwinError(str(exc)) from None
    print(f"{args.out}: {done['raw']:,} readings and {done['minutes']:,} per-minute rows")
    return 0


def cmd_archive(args: argparse.Namespace) -> int:
    from twin.loop.archive import export
    from twin.runtime import default_data_dir

    for path in export(args.data or default_data_dir(), args.incident, args.lang, args.out, args.timezone, args.pdf):
        print(f"wrote {path}")
    return 0


COMMANDS = {
    "archive": cmd_archive,
    "history": cmd_history,
    "branch": cmd_branch,
    "devices": cmd_devices,
    "drill": cmd_drill,
    "exercise": cmd_exercise,
    "record": cmd_record,
    "rerun": cmd_rerun,
    "report": cmd_report,
    "tail": cmd_tail,
    "token": cmd_token,
    "serve": cmd_serve,
    "check": cmd_check,
    "plugins": cmd_plugins,
    "plugin": cmd_plugin,
    "generate": cmd_generate,
    "import": cmd_import,
}

if __name__ == "__main__":
    sys.exit(main())
