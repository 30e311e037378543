"""Prometheus metrics of one engine, on its own registry (tests run many engines)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

TICK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.tick_seconds = Histogram("twin_tick_seconds", "Wall time of one engine tick", buckets=TICK_BUCKETS, registry=self.registry)
        self.kernel_seconds = Counter(
            "twin_kernel_seconds_total", "Wall time spent in each plugin's kernels", ["plugin", "kernel"], registry=self.registry
        )
        self.updater_seconds = Counter(
            "twin_updater_seconds_total", "Wall time spent in each plugin's updaters", ["plugin"], registry=self.registry
        )
        self.readings_accepted = Counter("twin_readings_accepted_total", "Readings accepted by ingest", registry=self.registry)
        self.readings_rejected = Counter(
            "twin_readings_rejected_total", "Readings rejected by ingest, by reason", ["reason"], registry=self.registry
        )
        self.active_alarms = Gauge("twin_active_alarms", "Open alarms by level", ["level"], registry=self.registry)
        self.sim_time = Gauge("twin_sim_time_seconds", "Simulation clock", registry=self.registry)
        self.quarantined = Gauge("twin_plugins_quarantined", "Plugins in quarantine", registry=self.registry)
        self.plugin_overruns = Counter(
            "twin_plugin_overruns_total", "Plugin steps stopped for running past their deadline", ["plugin"], registry=self.registry
        )
        self.nonfinite_rows = Counter(
            "twin_nonfinite_rows_total", "Kernel output rows found NaN or infinite (their last values kept)", ["plugin", "kernel"],
            registry=self.registry,
        )
        self.tick_errors = Counter(
            "twin_tick_errors_total", "Exceptions caught by the tick loop's supervisor, by where they came from", ["where"],
            registry=self.registry,
        )
        self.subsystem_up = Gauge(
            "twin_subsystem_up", "1 when a subsystem works, 0 when degraded or failed", ["subsystem"], registry=self.registry
        )
        self.last_tick_age = Gauge("twin_last_tick_age_seconds", "Seconds since the last completed tick", registry=self.registry)
        self.stream_clients = Gauge("twin_stream_clients", "Connected WebSocket clients", registry=self.registry)
        self.mqtt_connected = Gauge("twin_mqtt_connected", "1 while subscribed to the MQTT broker, else 0", registry=self.registry)
        self.mqtt_messages = Counter("twin_mqtt_messages_total", "MQTT messages received (a gateway's batch is one)",
                                     registry=self.registry)
        self.mqtt_commands = Counter("twin_mqtt_commands_total", "Commands published to the field over MQTT", registry=self.registry)
        self.sensors_online_ratio = Gauge(
            "twin_sensors_online_ratio", "Share of a domain's sensors with a good reading within their expected interval",
            ["domain"], registry=self.registry,
        )
        self.sensors_offline = Gauge(
            "twin_sensors_offline", "Sensors silent past their expected interval, by domain", ["domain"], registry=self.registry
        )
        self.sensors_suspect = Gauge(
            "twin_sensors_suspect", "Sensors whose readings stay flat within a tenth of their noise (stuck), by domain", ["domain"],
            registry=self.registry,
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
