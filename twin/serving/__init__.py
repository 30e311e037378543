"""Serving a twin: the HTTP and WebSocket server (:mod:`.server`), the wire protocol
(:mod:`.protocol`) and its fan-out (:mod:`.stream`), who may do what (:mod:`.access`,
:mod:`.guard`), the readings route, the viewer's geometry, and a Python client
(:mod:`.client`). The built viewer lives in ``static/``."""
