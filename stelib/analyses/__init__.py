"""What one chapter computes and draws, built on ``stelib.core``: scale-symmetry checks, outcome
tables, profiles and fields, general-input fixed points, proper STEs, the practice networks and
their report, and the figure helpers. Imports nothing from ``stelib.tooling``. Import the
modules by their short names (``stelib.symmetry``)."""
