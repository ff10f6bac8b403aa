"""A stand-in for pip, for tests/test_releases.py: `list --format=json` prints the "venv" of FAKE_VENV (a JSON file);
`install ... --target DIR REQ` makes DIR and writes REQ into it, after FAKE_PIP_SLEEP seconds (a download); an
install without --target writes REQ into the "venv" itself, which the session must notice. Every call is appended
to FAKE_PIP_LOG."""

import json
import os
import sys
import time
from pathlib import Path

args = sys.argv[1:]
with open(os.environ["FAKE_PIP_LOG"], "a") as log:
    log.write(json.dumps(args) + "\n")
venv = Path(os.environ["FAKE_VENV"])
if args[:1] == ["list"]:
    print(venv.read_text())
    sys.exit(0)
if args[:1] == ["install"]:
    time.sleep(float(os.environ.get("FAKE_PIP_SLEEP", "0")))
    requirement = args[-1]
    if "--target" in args:
        target = Path(args[args.index("--target") + 1])
        target.mkdir(parents=True, exist_ok=True)
        (target / "installed.txt").write_text(requirement)
    else:
        packages = json.loads(venv.read_text())
        venv.write_text(json.dumps([*packages, {"name": requirement, "version": "0"}]))
    sys.exit(int(os.environ.get("FAKE_PIP_EXIT", "0")))
sys.exit(2)
