"""The fleet simulator: simulated units, their meters and faults, the messages they send,
the exact energy behind them, and the units publishing live to a device endpoint.

- ``profiles``: load profiles and the run's calendar of shapes and weather;
- ``fleet``: the fleet's devices, meters and registers, and its ground truth;
- ``faults``: the faults a fleet can have, which devices have them, and where;
- ``transmission``: how readings become messages and reach the server, in arrival order;
- ``files``: a simulation written to files (messages, truth, device-meter map);
- ``wakes``: when a unit wakes to publish, and the messages each wake takes;
- ``publish`` and ``mqtt_unit``: units publishing live to an endpoint over MQTT/TLS;
- ``memory``: what the units keep, to answer the server's commands;
- ``run``: a written simulation published from its files;
- ``verify``: published files checked slot by slot against the truth;
- ``demo``: a throw-away server that a simulated fleet publishes to, checked end to end.

The simulator uses kenshin.domain and kenshin.ports (and the demo the whole server);
nothing in kenshin.domain, kenshin.services or kenshin.adapters uses it.
"""
