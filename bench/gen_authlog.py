#!/usr/bin/env python3
"""Writes a realistic auth.log for the ban benchmarks: syslog lines from sshd,
sudo, cron, systemd-logind and the kernel, mostly lines no ban filter matches,
with a share of failed logins from a pool of attacking addresses (IPv4 and
IPv6). Deterministic for a given --seed.

    python3 bench/gen_authlog.py --lines 1000000 --out /tmp/auth.log
"""
import argparse
import random
import time

USERS = ["root", "admin", "ubuntu", "deploy", "git", "test", "oracle", "postgres", "pi", "user"]
GOOD = ["alice", "bob", "deploy"]


def attacker(rng):
    if rng.random() < 0.15:
        return "2001:db8:%x:%x::%x" % (rng.randrange(1 << 16), rng.randrange(1 << 16), rng.randrange(1, 1 << 16))
    return "%d.%d.%d.%d" % (rng.choice([45, 61, 103, 185, 193, 203]), rng.randrange(256), rng.randrange(256), rng.randrange(1, 255))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=4)
    ap.add_argument("--fail-share", type=float, default=0.08, help="share of lines that are failures")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    pool = [attacker(rng) for _ in range(5000)]
    clients = ["192.0.2.%d" % i for i in range(10, 40)]
    t = time.mktime((2026, 11, 2, 0, 0, 0, 0, 0, -1))
    pid = 1000
    last, stamp = None, ""
    with open(a.out, "w") as f:
        for n in range(a.lines):
            t += rng.random() * 0.05
            if int(t) != last:
                last = int(t)
                stamp = time.strftime("%b %e %H:%M:%S", time.localtime(t))
            pid = 1000 + (pid + rng.randrange(1, 7)) % 60000
            host = "gw"
            r = rng.random()
            if r < a.fail_share:
                ip = rng.choice(pool)
                port = rng.randrange(1024, 65535)
                k = rng.random()
                if k < 0.45:
                    msg = "sshd[%d]: Failed password for invalid user %s from %s port %d ssh2" % (pid, rng.choice(USERS), ip, port)
                elif k < 0.75:
                    msg = "sshd[%d]: Failed password for %s from %s port %d ssh2" % (pid, rng.choice(USERS[:3]), ip, port)
                elif k < 0.95:
                    msg = "sshd[%d]: Invalid user %s from %s port %d" % (pid, rng.choice(USERS), ip, port)
                else:
                    msg = "sshd[%d]: error: maximum authentication attempts exceeded for root from %s port %d ssh2 [preauth]" % (pid, ip, port)
            else:
                c = rng.choice(clients)
                k = rng.randrange(12)
                u = rng.choice(GOOD)
                msg = [
                    "sshd[%d]: Accepted publickey for %s from %s port %d ssh2: ED25519 SHA256:Xq3AbCdEfGh%05d" % (pid, u, c, rng.randrange(1024, 65535), rng.randrange(99999)),
                    "sshd[%d]: pam_unix(sshd:session): session opened for user %s(uid=1000) by (uid=0)" % (pid, u),
                    "sshd[%d]: pam_unix(sshd:session): session closed for user %s" % (pid, u),
                    "sshd[%d]: Received disconnect from %s port %d:11: disconnected by user" % (pid, c, rng.randrange(1024, 65535)),
                    "sshd[%d]: Disconnected from user %s %s port %d" % (pid, u, c, rng.randrange(1024, 65535)),
                    "CRON[%d]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)" % pid,
                    "CRON[%d]: pam_unix(cron:session): session closed for user root" % pid,
                    "sudo:    %s : TTY=pts/0 ; PWD=/home/%s ; USER=root ; COMMAND=/usr/bin/systemctl status nginx" % (u, u),
                    "sudo: pam_unix(sudo:session): session opened for user root(uid=0) by %s(uid=1000)" % u,
                    "systemd-logind[411]: New session %d of user %s." % (rng.randrange(1, 9999), u),
                    "systemd-logind[411]: Session %d logged out. Waiting for processes to exit." % rng.randrange(1, 9999),
                    "kernel: [%d.%06d] audit: type=1400 audit(%d.123:%d): apparmor=\"STATUS\" operation=\"profile_replace\"" % (n, rng.randrange(999999), int(t), n),
                ][k]
            f.write("%s %s %s\n" % (stamp, host, msg))


if __name__ == "__main__":
    main()
