"""Where readings come from besides the in-process simulator: topic and payload
parsing (:mod:`twin.sources.payloads`), the MQTT subscriber (:mod:`twin.sources.mqtt`),
a mosquitto broker for tests, the demo and benchmarks (:mod:`twin.sources.broker`),
device credentials for it (:mod:`twin.sources.credentials`), the twin's commands to the
field (:mod:`twin.sources.commands`) and the device fleet that obeys them
(:mod:`twin.sources.fleet`, ``twin devices run``)."""
