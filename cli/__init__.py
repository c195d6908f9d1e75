"""The ``kerasforge`` command: the dispatcher, console helpers and the extras each command needs."""
