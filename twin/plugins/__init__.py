"""The plugin system: the hooks (:mod:`.hookspecs`), what a hook returns
(:mod:`.contributions`), the objects handed to plugin code (:mod:`.api`), the actions
they offer (:mod:`.actions`), and the host that loads, checks and quarantines plugins
(:mod:`.registry`)."""
