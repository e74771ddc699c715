#!/bin/sh
# Baseline: the runtime's no-op bookkeeping as a flock + jq shell script.
root=$1
state=$root/state
exec 9>>"$state/sh.lock"
flock -n 9 || exit 75
jq -e . "$root/config.json" >/dev/null || exit 78
f=$state/sh.json
[ -f "$f" ] || echo '{"schema_version":1,"job":"sh","runs":{"total":0},"history":[]}' >"$f"
now=$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)
tmp=$f.tmp.$$
jq --arg now "$now" --argjson pid $$ '
  .last_run = {started_at: $now, finished_at: $now, outcome: "noop", exit_code: 0, pid: $pid}
  | .runs.total += 1
  | .history = ((.history + [{started_at: $now, duration_ms: 0, outcome: "noop"}]) | .[-50:])' "$f" >"$tmp"
sync "$tmp"
mv "$tmp" "$f"
sync "$state"
