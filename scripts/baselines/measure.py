#!/usr/bin/env python3
"""Run commands many times, interleaved, and report median/p90 wall time and peak RSS.

usage: measure.py RUNS NAME=CMD... (CMD is split on spaces). Prints a Markdown table; the first
command is the reference for the ratio column. Peak RSS is measured separately with GNU time.
"""
import os, statistics, sys, time

DEVNULL = os.open(os.devnull, os.O_RDWR)

def run_once(argv):
    """Wall time in ms (posix_spawn: no copy of this interpreter's memory)."""
    t0 = time.perf_counter()
    pid = os.posix_spawnp(argv[0], argv, os.environ,
                          file_actions=[(os.POSIX_SPAWN_DUP2, DEVNULL, 1),
                                        (os.POSIX_SPAWN_DUP2, DEVNULL, 2)])
    _, status = os.waitpid(pid, 0)
    dt = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"{' '.join(argv)} exited {code}")
    return dt * 1000.0

def peak_rss(argv, n=5):
    """Peak RSS in MiB over n runs, measured by GNU time (a small C parent)."""
    import subprocess, tempfile
    best = 0.0
    for _ in range(n):
        with tempfile.NamedTemporaryFile("r") as out:
            subprocess.run(["/usr/bin/time", "-f", "%M", "-o", out.name] + argv,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            best = max(best, int(out.read().strip().splitlines()[-1]) / 1024.0)
    return best

def main():
    runs = int(sys.argv[1])
    cmds = [(a.split("=", 1)[0], a.split("=", 1)[1].split()) for a in sys.argv[2:]]
    times = {n: [] for n, _ in cmds}
    rss = {n: [] for n, _ in cmds}
    for _ in range(3):  # warm-up
        for n, c in cmds:
            run_once(c)
    for _ in range(runs):
        for n, c in cmds:
            times[n].append(run_once(c))
    for n, c in cmds:
        rss[n].append(peak_rss(c))
    ref = statistics.median(times[cmds[0][0]])
    print("| run | median ms | p90 ms | ratio to first | peak RSS MiB |")
    print("|---|---:|---:|---:|---:|")
    for n, _ in cmds:
        ts = sorted(times[n])
        med = statistics.median(ts)
        p90 = ts[int(len(ts) * 0.9) - 1]
        print(f"| {n} | {med:.2f} | {p90:.2f} | {med / ref:.2f}x | {max(rss[n]):.1f} |")
    if len(cmds) > 2:
        subject = cmds[1][0]
        sm = statistics.median(times[subject])
        parts = [f"{sm / ref:.2f}x the {cmds[0][0]}"]
        parts += [f"{statistics.median(times[n]) / sm:.1f}x faster than {n}" for n, _ in cmds[2:]]
        print()
        print(f"{subject}: " + ", ".join(parts) + f"; peak RSS {max(rss[subject]):.1f} MiB.")

main()
