#!/usr/bin/env python3
"""The daemon half of bench/bans.sh: a log writer, a kernel watcher and the
daemons under test (moat daemon, fail2ban-server), run inside the network
namespace bench/bans.sh made for it (`ip netns exec NS python3 ...`).

    bans_daemon.py follow  --tool moat|fail2ban --dir DIR [--rate 100000] [--secs 10]
    bans_daemon.py storm   --tool moat|fail2ban --dir DIR [--count 10000] [--secs 10] [--cap 60]
    bans_daemon.py startup --dir DIR [--count 100000]
    bans_daemon.py calibrate --dir DIR

Each prints one JSON object (its figures) on the last line of stdout.

The watcher is a separate process holding a netlink socket subscribed to
nf_tables' multicast group: it stamps (CLOCK_MONOTONIC) every set element
the kernel announces (NFT_MSG_NEWSETELEM), which the kernel does when the
transaction that added it commits. The writer stamps each failure line just
before its write(2). Latency = element announced - line written.
"""
import argparse
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

# bench/bans.sh sets both paths (scripts/bin-dir.sh names the directory).
MOAT = os.environ["MOAT"]
NETLINK_NETFILTER = 12
NFNLGRP_NFTABLES = 7
SOL_NETLINK = 270
NETLINK_ADD_MEMBERSHIP = 1
NFNL_SUBSYS_NFTABLES = 10
NFT_MSG_NEWSETELEM = 12
NLMSG_ERROR = 2
NLA_F_NESTED = 0x8000
NLM_F_REQUEST = 1
NLM_F_ACK = 4
NLM_F_CREATE = 0x400
NFNL_MSG_BATCH_BEGIN = 0x10
NFNL_MSG_BATCH_END = 0x11

mono = time.monotonic


def stat_cpu(pid, children=False):
    """utime + stime (+ cutime + cstime) of a process, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is state (field 3); utime is field 14.
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


def vm_hwm(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def syslog_stamp():
    return time.strftime("%b %e %H:%M:%S").encode()


# ------------------------------------------------------------------ watcher

def attrs(buf, off, end):
    while off + 4 <= end:
        ln, typ = struct.unpack_from("=HH", buf, off)
        if ln < 4:
            return
        yield typ & 0x3FFF, off + 4, off + ln
        off += (ln + 3) & ~3


def parse_setelem(buf, off, end):
    """(set name, [address bytes]) of an NFT_MSG_NEWSETELEM payload."""
    off += 4  # nfgenmsg
    name, keys = "", []
    for typ, a, b in attrs(buf, off, end):
        if typ == 2:  # NFTA_SET_ELEM_LIST_SET
            name = bytes(buf[a:b]).split(b"\0")[0].decode()
        elif typ == 3:  # NFTA_SET_ELEM_LIST_ELEMENTS
            for _, ea, eb in attrs(buf, a, b):  # NFTA_LIST_ELEM
                for t2, ka, kb in attrs(buf, ea, eb):
                    if t2 == 1:  # NFTA_SET_ELEM_KEY
                        for t3, va, vb in attrs(buf, ka, kb):
                            if t3 == 1:  # NFTA_DATA_VALUE
                                keys.append(bytes(buf[va:vb]))
    return name, keys


def watch(out_path):
    """Runs until SIGTERM; then writes 'stamp set address' lines to out_path."""
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    try:
        s.setsockopt(socket.SOL_SOCKET, 33, 256 << 20)  # SO_RCVBUFFORCE
    except OSError:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 20)
    s.bind((0, 0))
    s.setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, NFNLGRP_NFTABLES)
    seen = []
    overruns = [0]
    stop = [False]

    def on_term(*_):
        stop[0] = True

    signal.signal(signal.SIGTERM, on_term)
    s.settimeout(0.2)
    print("ready", flush=True)
    buf = bytearray(1 << 20)
    while not stop[0]:
        try:
            n = s.recv_into(buf)
        except socket.timeout:
            continue
        except InterruptedError:
            continue
        except OSError as e:  # ENOBUFS: the kernel dropped notifications
            overruns[0] += 1
            continue
        t = mono()
        off = 0
        while off + 16 <= n:
            ln, typ = struct.unpack_from("=IH", buf, off)
            if ln < 16:
                break
            if typ == (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWSETELEM:
                name, keys = parse_setelem(buf, off + 16, off + ln)
                for k in keys:
                    seen.append((t, name, k))
            off += (ln + 3) & ~3
    with open(out_path, "w") as f:
        for t, name, k in seen:
            addr = socket.inet_ntop(socket.AF_INET if len(k) == 4 else socket.AF_INET6, k) if len(k) in (4, 16) else k.hex()
            f.write("%.6f %s %s\n" % (t, name, addr))
        f.write("# overruns %d\n" % overruns[0])


class Watcher:
    def __init__(self, d):
        self.out = os.path.join(d, "watch.%d" % os.getpid())
        self.p = subprocess.Popen([sys.executable, __file__, "watch", "--out", self.out],
                                  stdout=subprocess.PIPE, text=True)
        assert self.p.stdout.readline().strip() == "ready"

    def stop(self):
        """{address: first stamp}, last stamp, overruns."""
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        self.p.wait(30)
        first, overruns = {}, 0
        with open(self.out) as f:
            for line in f:
                if line.startswith("# overruns"):
                    overruns = int(line.split()[2])
                    continue
                t, _, a = line.split()
                first.setdefault(a, float(t))
        os.unlink(self.out)
        return first, overruns


# ------------------------------------------------------------------ daemons

class Daemon:
    """moat daemon or fail2ban-server, with its stderr (or log) stamped line by line."""

    def __init__(self, tool, d, log_path, extra_env=None):
        self.tool, self.d, self.lines = tool, d, []
        self.cond = threading.Condition()
        state = os.environ.get("BANS_STATE") or os.path.join(d, "state")
        env = dict(os.environ, MOAT_STATE=state, MOAT_ETC=os.path.join(d, "etc"))
        env.update(extra_env or {})
        self.started = mono()
        if tool == "moat":
            conf = os.path.join(d, "moat.toml")
            with open(conf, "w") as f:
                f.write('[[jail]]\nname = "bench"\nfilter = "sshd"\nlogpath = "%s"\nmaxretry = 1\n'
                        'findtime = "10m"\nbantime = "1d"\nport = 22\nignoreself = false\n' % log_path)
            self.p = subprocess.Popen([MOAT, "daemon", "--config", conf], env=env,
                                      stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE)
            threading.Thread(target=self._read, args=(self.p.stderr,), daemon=True).start()
        else:
            etc = fail2ban_etc(d, log_path)
            self.f2blog = os.path.join(d, "f2b.log")
            self.p = subprocess.Popen(["fail2ban-server", "-f", "-x", "-c", etc,
                                       "-s", os.path.join(d, "f2b.sock"), "-p", os.path.join(d, "f2b.pid")],
                                      stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.STDOUT)
            threading.Thread(target=self._tail, daemon=True).start()

    def _read(self, pipe):
        for raw in pipe:
            with self.cond:
                self.lines.append((mono(), raw.decode(errors="replace").rstrip("\n")))
                self.cond.notify_all()

    def _tail(self):
        while not os.path.exists(self.f2blog) and self.p.poll() is None:
            time.sleep(0.01)
        with open(self.f2blog, "rb") as f:
            while self.p.poll() is None:
                raw = f.readline()
                if not raw:
                    time.sleep(0.01)
                    continue
                with self.cond:
                    self.lines.append((mono(), raw.decode(errors="replace").rstrip("\n")))
                    self.cond.notify_all()

    def wait_for(self, text, timeout):
        """Stamp of the first log line containing text."""
        end = mono() + timeout
        with self.cond:
            while True:
                for t, line in self.lines:
                    if text in line:
                        return t
                if mono() > end or self.p.poll() is not None:
                    tail = "\n".join(l for _, l in self.lines[-15:])
                    raise SystemExit("%s: no %r within %d s (exit %s):\n%s" % (self.tool, text, timeout, self.p.poll(), tail))
                self.cond.wait(0.1)

    def count(self, text):
        with self.cond:
            return sum(1 for _, l in self.lines if text in l)

    def cpu(self):
        return stat_cpu(self.p.pid, children=self.tool != "moat")

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(20)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


def fail2ban_etc(d, log_path):
    """A private copy of /etc/fail2ban with one jail 'bench' on log_path."""
    etc = os.path.join(d, "f2b-etc")
    subprocess.run(["rm", "-rf", etc], check=True)
    subprocess.run(["cp", "-a", "/etc/fail2ban", etc], check=True)
    for n in os.listdir(os.path.join(etc, "jail.d")):
        os.unlink(os.path.join(etc, "jail.d", n))
    with open(os.path.join(etc, "fail2ban.local"), "w") as f:
        f.write("[Definition]\nloglevel = INFO\nlogtarget = %s\nsocket = %s\npidfile = %s\n"
                "dbfile = %s\n" % (os.path.join(d, "f2b.log"), os.path.join(d, "f2b.sock"),
                                   os.path.join(d, "f2b.pid"), os.path.join(d, "f2b.sqlite3")))
    with open(os.path.join(etc, "jail.local"), "w") as f:
        f.write("[DEFAULT]\nignoreself = false\nignoreip =\nbackend = pyinotify\n"
                "banaction = nftables-multiport\nbanaction_allports = nftables-allports\n\n"
                "[bench]\nenabled = true\nfilter = sshd\nlogpath = %s\nmaxretry = 1\n"
                "findtime = 600\nbantime = 86400\nport = 22\n" % log_path)
    return etc


# ------------------------------------------------------------------ writers

FILLER = [
    b"sshd[%d]: Accepted publickey for alice from 192.0.2.%d port %d ssh2: ED25519 SHA256:Xq3AbCdEfGh%05d",
    b"sshd[%d]: pam_unix(sshd:session): session opened for user bob(uid=1000) by (uid=0)",
    b"sshd[%d]: pam_unix(sshd:session): session closed for user bob",
    b"sshd[%d]: Received disconnect from 192.0.2.%d port %d:11: disconnected by user",
    b"sshd[%d]: Disconnected from user deploy 192.0.2.%d port %d",
    b"CRON[%d]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)",
    b"CRON[%d]: pam_unix(cron:session): session closed for user root",
    b"sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/systemctl status nginx",
    b"systemd-logind[411]: New session %d of user alice.",
    b"kernel: [%d.000123] audit: type=1400 apparmor=\"STATUS\" operation=\"profile_replace\"",
]


def filler_block(n=2000):
    """n non-failure lines (a realistic mix: none of them bans), as a list of
    byte strings without their date."""
    out = []
    for i in range(n):
        tmpl = FILLER[i % len(FILLER)]
        args = (1000 + i, 10 + i % 30, 1024 + i, i)[: tmpl.count(b"%")]
        out.append(b" host " + (tmpl % args if args else tmpl) + b"\n")
    return out


def failure_line(addr):
    return syslog_stamp() + b" host sshd[123]: Failed password for root from " + addr.encode() + b" port 1 ssh2\n"


def v4(prefix, i):
    return "%s.%d.%d" % (prefix, (i >> 8) & 255, i & 255)


def write_steady(fd, rate, secs, every, prefix):
    """rate lines/s for secs, a failure line (a new address) every `every` s;
    returns {address: write stamp}, lines written, the late-ness of the writer."""
    block = filler_block()
    nb = len(block)
    stamp, stamp_at = syslog_stamp(), int(time.time())
    sent = {}
    written = fails = pos = 0
    start = mono()
    next_fail = start + every / 2
    behind = 0.0
    while True:
        now = mono()
        el = now - start
        if el >= secs:
            break
        if int(time.time()) != stamp_at:
            stamp, stamp_at = syslog_stamp(), int(time.time())
        if now >= next_fail:
            addr = v4(prefix, fails)
            line = failure_line(addr)
            t = mono()
            os.write(fd, line)
            sent[addr] = t
            behind = max(behind, t - next_fail)
            fails += 1
            written += 1
            next_fail += every
        due = int(el * rate) - written
        if due > 0:
            chunk = []
            for _ in range(due):
                chunk.append(stamp)
                chunk.append(block[pos])
                pos = (pos + 1) % nb
            os.write(fd, b"".join(chunk))
            written += due
        else:
            time.sleep(0.0005)
    return sent, written, mono() - start, behind


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return None
    k = min(len(xs) - 1, max(0, int(round(p / 100 * len(xs) + 0.5)) - 1))
    return xs[k]


def latencies(sent, seen):
    lat = [seen[a] - t for a, t in sent.items() if a in seen]
    ms = lambda x: None if x is None else round(x * 1000, 2)
    return {
        "sent": len(sent), "banned": len(lat),
        "p50_ms": ms(pct(lat, 50)), "p90_ms": ms(pct(lat, 90)), "p99_ms": ms(pct(lat, 99)),
        "max_ms": ms(max(lat) if lat else None),
    }


def nft_count(tool):
    """Elements in the jail's IPv4 set, from the kernel."""
    if tool == "moat":
        args = ["nft", "-j", "list", "set", "inet", "moat_ban", "bench.v4"]
    else:
        args = ["nft", "-j", "list", "set", "inet", "f2b-table", "addr-set-bench"]
    out = subprocess.run(args, capture_output=True, text=True)
    if out.returncode != 0:
        return 0
    for item in json.loads(out.stdout)["nftables"]:
        if "set" in item:
            return len(item["set"].get("elem", []))
    return 0


def open_log(d):
    path = os.path.join(d, "auth.log")
    open(path, "w").close()
    return path, os.open(path, os.O_WRONLY | os.O_APPEND)


def start(tool, d, log_path, fd, timeout=60):
    w = Watcher(d)
    dm = Daemon(tool, d, log_path)
    if tool == "moat":
        dm.wait_for("[bench] watching", timeout)
    else:
        dm.wait_for("Jail 'bench' started", timeout)
    time.sleep(0.3)
    os.write(fd, failure_line("192.0.2.200"))
    wait_seen(tool, "192.0.2.200", timeout)
    return w, dm


def wait_seen(tool, addr, timeout):
    """Waits until the warm-up ban is in the kernel."""
    end = mono() + timeout
    while mono() < end:
        if nft_count(tool) >= 1:
            return
        time.sleep(0.05)
    raise SystemExit("warm-up ban of %s not seen in %d s" % (addr, timeout))


# ------------------------------------------------------------------ benchmarks

def follow(a):
    log_path, fd = open_log(a.dir)
    w, dm = start(a.tool, a.dir, log_path, fd)
    try:
        cpu0, t0 = dm.cpu(), mono()
        sent, lines, took, behind = write_steady(fd, a.rate, a.secs, 0.01, "198.18")
        # Let the daemon finish what it read (bounded by the cap).
        deadline = mono() + a.cap
        while mono() < deadline and nft_count(a.tool) < len(sent) + 1:
            time.sleep(0.2)
        cpu1, t1 = dm.cpu(), mono()
        seen, overruns = w.stop()
        res = latencies(sent, seen)
        res.update(tool=a.tool, lines=lines, write_secs=round(took, 2),
                   rate=round(lines / took), writer_late_ms=round(behind * 1000, 2),
                   cpu_secs=round(cpu1 - cpu0, 2), wall_secs=round(t1 - t0, 2),
                   cpu_pct_of_write=round(100 * (cpu1 - cpu0) / took, 1),
                   rss_kib=vm_hwm(dm.p.pid), overruns=overruns, in_kernel=nft_count(a.tool) - 1)
        return res
    finally:
        dm.stop()
        os.close(fd)


def storm(a):
    log_path, fd = open_log(a.dir)
    w, dm = start(a.tool, a.dir, log_path, fd)
    try:
        cpu0 = dm.cpu()
        sent = {}
        start_t = mono()
        for i in range(a.count):
            due = start_t + a.secs * i / a.count
            now = mono()
            if due > now:
                time.sleep(due - now)
            addr = v4("198.19", i) if i < 65536 else v4("198.20", i - 65536)
            line = failure_line(addr)
            t = mono()
            os.write(fd, line)
            sent[addr] = t
        write_end = mono()
        deadline = write_end + a.cap
        n = 0
        while mono() < deadline:
            n = nft_count(a.tool) - 1
            if n >= a.count:
                break
            time.sleep(0.5)
        cpu1 = dm.cpu()
        seen, overruns = w.stop()
        got = [seen[x] for x in sent if x in seen]
        res = latencies(sent, seen)
        in_kernel = nft_count(a.tool) - 1
        rss = vm_hwm(dm.p.pid)
        res.update(tool=a.tool, count=a.count, write_secs=round(write_end - start_t, 2),
                   in_kernel=in_kernel,
                   last_in_kernel_after_first_write_s=round(max(got) - start_t, 2) if got else None,
                   last_after_last_write_s=round(max(got) - write_end, 3) if got else None,
                   cap_secs=a.cap, cpu_secs=round(cpu1 - cpu0, 2), rss_kib=rss,
                   ban_log_lines=dm.count("Ban "), overruns=overruns)
        if a.restart:
            res.update(restart(a, dm, log_path, in_kernel + 1))
        return res
    finally:
        dm.stop()
        os.close(fd)


def restart(a, dm, log_path, want):
    """A reboot after the storm: stop the daemon, the kernel forgets the bans,
    start again; time from the start until the bans are back in the kernel."""
    dm.stop()
    subprocess.run(["nft", "delete", "table", "inet", "moat_ban" if a.tool == "moat" else "f2b-table"],
                   stderr=subprocess.DEVNULL)
    if a.tool == "fail2ban":
        open(os.path.join(a.dir, "f2b.log"), "w").close()
    dm2 = Daemon(a.tool, a.dir, log_path)
    try:
        deadline = dm2.started + a.cap
        n = 0
        while mono() < deadline and dm2.p.poll() is None:
            n = nft_count(a.tool)
            if n >= want:
                break
            time.sleep(0.05)
        took = mono() - dm2.started
        return {"restart_want": want, "restart_in_kernel": n, "restart_secs": round(took, 2),
                "restart_rss_kib": vm_hwm(dm2.p.pid)}
    finally:
        dm2.stop()


def startup(a):
    log_path, fd = open_log(a.dir)
    os.close(fd)
    state = os.path.join(a.dir, "state")
    os.makedirs(state, exist_ok=True)
    fill = os.environ["FILL_STORE"]
    out = subprocess.run([fill, os.path.join(state, "bans.redb"), "bench", str(a.count), "86400"],
                         check=True, capture_output=True, text=True).stdout
    read_ms = int(out.rsplit("read back in ", 1)[1].split()[0]) if "read back in" in out else None
    # No watcher here: parsing 100,000 notifications would compete for the CPU.
    dm = Daemon("moat", a.dir, log_path)
    try:
        t0 = dm.started
        ready = dm.wait_for("[daemon] ready", 60) - t0
        restored = dm.wait_for("restored %d bans" % a.count, 60) - t0
        watching = dm.wait_for("[bench] watching", 60) - t0
        cpu = dm.cpu()
        # The first ban after the start: a failure line written now, polled for.
        with open(log_path, "ab") as f:
            f.write(failure_line("192.0.2.250"))
        t1 = mono()
        first_ban = dm.wait_for("Ban 192.0.2.250", 60) - t1
        n = nft_count("moat") - (1 if first_ban is not None else 0)
        return {"tool": "moat", "count": a.count, "ready_s": round(ready, 3), "cpu_at_ready": round(cpu, 2),
                "first_ban_after_ready_s": None if first_ban is None else round(first_ban, 3),
                "restored_line_s": round(restored, 3), "watching_s": round(watching, 3),
                "in_kernel": n,
                "rss_kib": vm_hwm(dm.p.pid), "cpu_secs": round(dm.cpu(), 2), "store_read_ms": read_ms}
    finally:
        dm.stop()


def calibrate(a):
    """The watcher's own share: this process adds an element to a set of its
    own over netlink, stamping the send; the watcher stamps its announcement.
    That is a kernel commit plus the notification plus the watcher's wake-up."""
    subprocess.run(["nft", "-f", "-"], input="add table inet hbcal\nadd set inet hbcal s { type ipv4_addr; }\n",
                   text=True, check=True)
    w = Watcher(a.dir)
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    s.bind((0, 0))
    sent = {}

    def nla(typ, payload):
        ln = 4 + len(payload)
        return struct.pack("=HH", ln, typ) + payload + b"\0" * ((4 - ln % 4) % 4)

    def msg(typ, flags, seq, payload, family=0, res=0):
        body = struct.pack("=BBH", family, 0, socket.htons(res)) + payload
        return struct.pack("=IHHII", 16 + len(body), typ, flags, seq, 0) + body

    for i in range(a.count):
        addr = "198.51.%d.%d" % (i >> 8, i & 255)
        key = nla(NLA_F_NESTED | 1, nla(1, socket.inet_aton(addr)))
        elems = nla(NLA_F_NESTED | 3, nla(NLA_F_NESTED | 1, key))
        payload = nla(1, b"hbcal\0") + nla(2, b"s\0") + elems
        batch = (msg(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, 3 * i + 1, b"", res=NFNL_SUBSYS_NFTABLES)
                 + msg((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWSETELEM,
                       NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK, 3 * i + 2, payload, family=1)
                 + msg(NFNL_MSG_BATCH_END, NLM_F_REQUEST, 3 * i + 3, b"", res=NFNL_SUBSYS_NFTABLES))
        t = mono()
        s.send(batch)
        sent[addr] = t
        s.recv(65536)  # the ack
        time.sleep(0.01)
    time.sleep(0.3)
    seen, _ = w.stop()
    subprocess.run(["nft", "delete", "table", "inet", "hbcal"], check=False)
    return latencies(sent, seen)


def report(a):
    """Markdown tables from the runs' files in a.dir."""
    d = a.dir

    def js(name):
        try:
            with open(os.path.join(d, name + ".json")) as f:
                return json.loads(f.read() or "null")
        except (OSError, ValueError):
            return None

    def tm(name):
        try:
            with open(os.path.join(d, name + ".time")) as f:
                wall, rss, user, sys_ = f.read().split()[-4:]
            return {"wall": float(wall), "rss": int(rss), "cpu": float(user) + float(sys_)}
        except (OSError, ValueError):
            return None

    def lines(name):
        try:
            with open(os.path.join(d, name + ".lines")) as f:
                return f.read().strip()
        except OSError:
            return ""

    mib = lambda k: "%.0f MiB" % (k / 1024) if k else "–"
    num = lambda x: "{:,}".format(int(round(x)))
    ms = lambda x: "–" if x is None else ("%.1f s" % (x / 1000) if x >= 10000 else "%.1f ms" % x)
    ratio = lambda f, m: "%.0fx" % (f / m) if f and m and f / m >= 10 else ("%.1fx" % (f / m) if f and m else "–")
    row = lambda *c: print("| " + " | ".join(str(x) for x in c) + " |")

    n = a.lines
    m1, m2, f1 = tm("test_moat"), tm("test_moat_f2bfilter"), tm("test_f2b")
    print("### 1. `moat jail test` against `fail2ban-regex`: %s-line auth.log, sshd filter\n" % num(n))
    row("", "fail2ban-regex", "moat jail test", "moat wins")
    row("---", "---:", "---:", "---:")
    for label, m in (("moat's built-in sshd filter", m1), ("fail2ban's filter.d/sshd.conf", m2)):
        if not m:
            continue
        row("wall time, " + label, "%.1f s" % f1["wall"] if f1 else "–", "%.2f s" % m["wall"],
            ratio(f1 and f1["wall"], m["wall"]))
        row("lines/s, " + label, num(n / f1["wall"]) if f1 else "–", num(n / m["wall"]),
            ratio(f1 and f1["wall"], m["wall"]))
        row("CPU (user + sys), " + label, "%.1f s" % f1["cpu"] if f1 else "–", "%.2f s" % m["cpu"],
            ratio(f1 and f1["cpu"], m["cpu"]))
        row("peak RSS, " + label, mib(f1["rss"]) if f1 else "–", mib(m["rss"]),
            ratio(f1 and f1["rss"], m["rss"]))
    print()
    for name, who in (("test_f2b", "fail2ban-regex"), ("test_moat", "moat, built-in"),
                      ("test_moat_f2bfilter", "moat, fail2ban's sshd.conf")):
        if lines(name):
            print("- %s: `%s`" % (who, lines(name)))
    print()

    cal = js("calibrate")
    fm, ft, ff = js("follow_moat"), js("follow_moat_tmpfs"), js("follow_f2b")
    if fm:
        print("### 2. The daemon following a log written at %s lines/s, a failure from a new address every 10 ms\n"
              % num(fm["rate"]))
        row("", "fail2ban-server (pyinotify, nftables-multiport)", "moat daemon", "moat wins")
        row("---", "---:", "---:", "---:")
        f = ff or {}
        row("lines written in %.0f s (failure lines)" % fm["write_secs"],
            "%s (%s)" % (num(f["lines"]), num(f["sent"])) if ff else "–",
            "%s (%s)" % (num(fm["lines"]), num(fm["sent"])), "")
        row("failures in the kernel (fail2ban: %s s cap after writing)" % (f.get("wall_secs") and int(a.cap) or "–"),
            num(f["banned"]) if ff else "–", num(fm["banned"]), "")
        for k, label in (("p50_ms", "latency p50"), ("p90_ms", "latency p90"), ("p99_ms", "latency p99"),
                         ("max_ms", "latency max")):
            row(label, ms(f.get(k)) if ff else "–", ms(fm[k]), "")
        row("CPU used (user + sys, until all were banned; fail2ban's with its nft children)",
            "%.1f s in %.1f s" % (f["cpu_secs"], f["wall_secs"]) if ff else "–",
            "%.2f s in %.1f s" % (fm["cpu_secs"], fm["wall_secs"]), ratio(f.get("cpu_secs"), fm["cpu_secs"]) if ff else "")
        row("CPU per million lines", "%.1f s" % (f["cpu_secs"] / f["lines"] * 1e6) if ff else "–",
            "%.2f s" % (fm["cpu_secs"] / fm["lines"] * 1e6), "")
        row("peak RSS", mib(f.get("rss_kib")) if ff else "–", mib(fm["rss_kib"]), "")
        print()
        if ft:
            print("- moat with its store on tmpfs (no fsync cost): latency p50 %s, p90 %s, p99 %s, max %s; CPU %.2f s"
                  % (ms(ft["p50_ms"]), ms(ft["p90_ms"]), ms(ft["p99_ms"]), ms(ft["max_ms"]), ft["cpu_secs"]))
        if cal:
            print("- the watcher's own share (an element added by the harness over netlink, to its announcement): "
                  "p50 %s, p99 %s, max %s" % (ms(cal["p50_ms"]), ms(cal["p99_ms"]), ms(cal["max_ms"])))
        print("- the writer was at most %.1f ms late on a failure line (moat run)" % fm["writer_late_ms"])
        print()

    sm, sf = js("storm_moat"), js("storm_f2b")
    if sm:
        print("### 3. Ban storm: %s distinct addresses failing within %.0f s (maxretry 1)\n" % (num(sm["count"]), sm["write_secs"]))
        row("", "fail2ban-server", "moat daemon", "moat wins")
        row("---", "---:", "---:", "---:")
        f = sf or {}
        row("in the kernel at the end (fail2ban: %s s after the last line)" % (int(f.get("cap_secs", 0)) or "–"),
            num(f["in_kernel"]) if sf else "–", num(sm["in_kernel"]), "")
        row("last ban in the kernel, after the first line",
            ("%.1f s" % f["last_in_kernel_after_first_write_s"] + ("" if f["in_kernel"] >= f["count"] else " (not all)")) if sf else "–",
            "%.2f s" % sm["last_in_kernel_after_first_write_s"], "")
        row("last ban in the kernel, after the last line", "%.1f s" % f["last_after_last_write_s"] if sf else "–",
            ms(sm["last_after_last_write_s"] * 1000), "")
        row("bans per second", "%.0f" % (f["in_kernel"] / f["last_in_kernel_after_first_write_s"]) if sf else "–",
            "%.0f (the rate of the lines)" % (sm["in_kernel"] / sm["last_in_kernel_after_first_write_s"]),
            ratio(sm["in_kernel"] / sm["last_in_kernel_after_first_write_s"], f["in_kernel"] / f["last_in_kernel_after_first_write_s"]) if sf else "")
        row("latency p50 / p99", "%s / %s" % (ms(f["p50_ms"]), ms(f["p99_ms"])) if sf else "–",
            "%s / %s" % (ms(sm["p50_ms"]), ms(sm["p99_ms"])), "")
        row("CPU used (fail2ban's with its nft children)", "%.1f s" % f["cpu_secs"] if sf else "–", "%.2f s" % sm["cpu_secs"], ratio(f.get("cpu_secs"), sm["cpu_secs"]) if sf else "")
        row("peak RSS", mib(f.get("rss_kib")) if sf else "–", mib(sm["rss_kib"]), "")
        if "restart_secs" in sm:
            row("a reboot (daemon stopped, kernel table deleted, daemon started): bans back",
                ("%s of %s in %.1f s" % (num(f["restart_in_kernel"]), num(f["restart_want"]), f["restart_secs"])) if sf and "restart_secs" in f else "–",
                "%s of %s in %.2f s" % (num(sm["restart_in_kernel"]), num(sm["restart_want"]), sm["restart_secs"]), "")
        print()

    su = js("startup_moat")
    if su:
        print("### 4. moat daemon starting with %s bans due\n" % num(su["count"]))
        row("", "moat daemon")
        row("---", "---:")
        row("process start → `[daemon] ready`", "%.2f s" % su["ready_s"])
        row("process start → `restored %s bans` (the one transaction committed)" % num(su["count"]), "%.2f s" % su["restored_line_s"])
        row("elements in the kernel afterwards (nft)", num(su["in_kernel"]))
        if su.get("store_read_ms") is not None:
            row("of which: reading the %s bans from the store (`Store::active_bans`, measured apart)" % num(su["count"]),
                "%.2f s" % (su["store_read_ms"] / 1000))
        row("peak RSS", mib(su["rss_kib"]))
        row("CPU until `ready`", "%.2f s" % su["cpu_at_ready"])
        if su.get("first_ban_after_ready_s") is not None:
            row("a failure line written at `ready`: its `Ban` log line after",
                "%.2f s" % su["first_ban_after_ready_s"])
        print()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["follow", "storm", "startup", "calibrate", "watch", "report"])
    ap.add_argument("--lines", type=int, default=1000000)
    ap.add_argument("--tool", default="moat", choices=["moat", "fail2ban"])
    ap.add_argument("--dir")
    ap.add_argument("--out")
    ap.add_argument("--rate", type=int, default=100000)
    ap.add_argument("--secs", type=float, default=10)
    ap.add_argument("--count", type=int)
    ap.add_argument("--cap", type=float, default=60)
    ap.add_argument("--restart", action="store_true", help="storm: then restart and time the restore")
    a = ap.parse_args()
    if a.mode == "watch":
        return watch(a.out)
    if a.mode == "report":
        return report(a)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    os.makedirs(a.dir, exist_ok=True)
    if a.count is None:
        a.count = {"storm": 10000, "startup": 100000, "calibrate": 200}.get(a.mode, 0)
    res = {"follow": follow, "storm": storm, "startup": startup, "calibrate": calibrate}[a.mode](a)
    print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
