#!/usr/bin/env python3
"""CPU time of a command, split into its own (user) and the kernel's (system).

Usage: cpu_times.py REPEAT INPUT [--fresh NS] -- COMMAND...

Runs COMMAND REPEAT times with standard input from INPUT and output
discarded, and prints the average user, system and elapsed milliseconds
("user sys elapsed"), measured with getrusage, so a few milliseconds are
still told apart. With --fresh NS the network namespace NS is made anew
before each run (not timed), for restores into an empty kernel.
"""
import resource
import subprocess
import sys
import time


def main(argv):
    repeat, input_path = int(argv[1]), argv[2]
    rest = argv[3:]
    fresh = None
    if rest[:1] == ["--fresh"]:
        fresh, rest = rest[1], rest[2:]
    if rest[:1] != ["--"]:
        sys.exit("usage: cpu_times.py REPEAT INPUT [--fresh NS] -- COMMAND...")
    command = rest[1:]
    user = system = elapsed = 0.0
    for _ in range(repeat):
        if fresh:
            subprocess.run(["ip", "netns", "del", fresh], stderr=subprocess.DEVNULL)
            subprocess.run(["ip", "netns", "add", fresh], check=True)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.monotonic()
        with open(input_path, "rb") as stdin:
            subprocess.run(command, stdin=stdin, stdout=subprocess.DEVNULL, check=True)
        elapsed += time.monotonic() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        user += after.ru_utime - before.ru_utime
        system += after.ru_stime - before.ru_stime
    print(" ".join(f"{1000 * t / repeat:.1f}" for t in (user, system, elapsed)))


if __name__ == "__main__":
    main(sys.argv)
