"""lifeline-twin-drainage: storm drainage networks for Lifeline Twin (the `drainage` domain).

The hooks are in :mod:`twin_drainage.plugin`, the hydraulics and the risk kernel in
:mod:`twin_drainage.model`, the synthetic-city generator in :mod:`twin_drainage.generate`.
"""

__version__ = "0.1.0"
