"""The contract every Store adapter passes: the same tests, run against each backend."""
