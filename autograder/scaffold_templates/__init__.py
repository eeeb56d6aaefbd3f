"""Templates of ``mlphys new`` (package data: the YAML files next to this one)."""
