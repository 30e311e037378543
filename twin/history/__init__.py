"""History: every accepted reading, stored in the data folder (issue 14).

- :mod:`twin.history.store`: the store (SQLite holding zstd blobs per series per hour;
  retention into per-minute aggregates).
- :mod:`twin.history.writer`: the writer thread the tick feeds through a bounded queue.
- :mod:`twin.history.codec`, :mod:`twin.history.log`: the blob encoding and the pending log.
"""

from twin.history.store import HistoryError, Series, Store
from twin.history.writer import Writer

__all__ = ["HistoryError", "Series", "Store", "Writer"]
