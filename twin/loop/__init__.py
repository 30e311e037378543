"""The loop with people (issue 15): what happens after an alarm is raised.

:mod:`twin.loop.incidents` groups alarms into incidents by cause and place, each with its
own lifecycle and owner, stored in the alarm store's SQLite; :mod:`twin.loop.grouping`
says which alarms belong together (plugin contributions, with defaults per domain);
:mod:`twin.loop.places` gives assets a position, a distance and a map outline. The core
knows no domain here either: every rule comes from a plugin or the configuration.
"""
