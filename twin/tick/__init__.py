"""The tick: what runs every second.

A scene (:mod:`.scene`) gives the assets and sensors; a world (:mod:`.world`) holds one
state table per domain (:mod:`.state`); each tick the engine (:mod:`.engine`) takes the
readings in (:mod:`.ingest`), steps the plugins' updaters under supervision
(:mod:`.supervision`), scores risk (:mod:`.risk`, :mod:`.params`), judges alarms
(:mod:`.alarms`) and sensor health (:mod:`.sensor_health`), and emits a frame.
:mod:`.simulator` is the in-process field: a ground-truth world measured by the sensors.
"""
