"""Where readings come from besides the in-process simulator: topic and payload
parsing (:mod:`twin.sources.payloads`), the MQTT subscriber (:mod:`twin.sources.mqtt`),
a mosquitto broker for tests, the demo and benchmarks (:mod:`twin.sources.broker`),
and device credentials for it (:mod:`twin.sources.credentials`)."""
