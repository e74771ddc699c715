#!/usr/bin/env python3
"""Baseline: the runtime's no-op bookkeeping in Python (lock, config, state, atomic save)."""
import fcntl, json, os, sys, time, datetime

root = sys.argv[1]
state_dir = os.path.join(root, "state")
lock = open(os.path.join(state_dir, "py.lock"), "a+")
try:
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError:
    sys.exit(75)
with open(os.path.join(root, "config.json")) as f:
    config = json.load(f)
path = os.path.join(state_dir, "py.json")
try:
    with open(path) as f:
        state = json.load(f)
except FileNotFoundError:
    state = {"schema_version": 1, "job": "py", "runs": {"total": 0}, "history": []}
now = datetime.datetime.now(datetime.timezone.utc).isoformat()
state["last_run"] = {"started_at": now, "finished_at": now, "outcome": "noop", "exit_code": 0, "pid": os.getpid()}
state["runs"]["total"] += 1
state["history"] = (state["history"] + [{"started_at": now, "duration_ms": 0, "outcome": "noop"}])[-50:]
tmp = path + ".tmp.%d" % os.getpid()
with open(tmp, "w") as f:
    json.dump(state, f, indent=2)
    f.flush()
    os.fsync(f.fileno())
os.rename(tmp, path)
d = os.open(state_dir, os.O_RDONLY)
os.fsync(d)
os.close(d)
