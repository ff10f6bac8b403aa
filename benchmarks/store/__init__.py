"""Saved runs: where each instrument writes its JSON (results/<machine>/<id>/NNNN_<kind>.json), how the
report finds the newest of each kind (runs.py), and which machine a run is from (machine.py). No session
of its own: every instrument and `nox -s report` use it."""
