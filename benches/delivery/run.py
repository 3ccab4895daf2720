#!/usr/bin/env python3
"""Duplicate and lost commands per kind of fault, against a real mosquitto.

The setting of issue 18: `e4c2 serve` (release build, SQLite) publishing to
mosquitto 2.0 on 127.0.0.1, N clients on one topic, one subscriber
(`mosquitto_sub -q 2 -t 'e4/#'`, persistent session) counting the
commands per control topic, `POST /v1/topics/{topic}/rotate`, and a fault
0.2 s later. For each scenario it prints how many rotation commands reached
the subscriber once, twice, or not at all, how many stayed pending in the
outbox, how long delivery took, and how many times mosquitto dropped C2's
connection.

    cargo build --release -p e4-c2
    python3 benches/delivery/run.py [--clients 1200] [--busy 2] [--runs 3]

`--busy N` runs N busy loops beside (the livelock needed a loaded machine).
Nothing is fetched; mosquitto comes from Debian's packages.
"""
import argparse
import collections
import http.client
import json
import os
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise SystemExit(f"nothing listens on {port}")


class Broker:
    def __init__(self, work, persistence=True):
        self.work, self.port, self.persistence = work, free_port(), persistence
        self.conf = os.path.join(work, "mosquitto.conf")
        self.log = os.path.join(work, "mosquitto.log")
        with open(self.conf, "w") as f:
            f.write(f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
                    f"persistence {'true' if persistence else 'false'}\npersistence_location {work}/\n"
                    "autosave_interval 1\nmax_queued_messages 100000\nuser root\nlog_dest stdout\n")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(["mosquitto", "-c", self.conf],
                                     stdout=open(self.log, "a"), stderr=subprocess.STDOUT)
        wait_port(self.port)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait()

    def dropped_c2(self):
        with open(self.log) as f:
            return sum(1 for l in f if "Bad socket read/write on client e4c2" in l)


class C2:
    def __init__(self, work, broker_port):
        self.work, self.broker = work, broker_port
        self.grpc, self.http = free_port(), free_port()
        self.data = os.path.join(work, "c2")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            [os.path.join(ROOT, "target/release/e4c2"), "serve", "--data-dir", self.data,
             "--broker", f"mqtt://127.0.0.1:{self.broker}",
             "--grpc-listen", f"127.0.0.1:{self.grpc}", "--http-listen", f"127.0.0.1:{self.http}",
             "--kdf-memory-kib", "1024", "--log", "warn"],
            stdout=open(os.path.join(self.work, "c2.log"), "a"), stderr=subprocess.STDOUT)
        wait_port(self.http, 30)
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        self.conn = http.client.HTTPSConnection("127.0.0.1", self.http, context=ctx)
        with open(os.path.join(self.data, "admin.token")) as f:
            self.token = f.read().strip()

    def call(self, method, path, body=None):
        self.conn.request(method, path, body=json.dumps(body) if body is not None else None,
                          headers={"Authorization": f"Bearer {self.token}",
                                   "Content-Type": "application/json"})
        r = self.conn.getresponse()
        d = r.read()
        if r.status >= 300:
            raise SystemExit(f"{method} {path}: {r.status} {d}")
        return json.loads(d) if d else None

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait()

    def pending(self):
        db = sqlite3.connect(os.path.join(self.data, "c2.db"))
        n = db.execute("select count(*) from outbox where status = 0").fetchone()[0]
        db.close()
        return n


class Counter:
    def __init__(self, work, port):
        self.path = os.path.join(work, "seen.txt")
        self.proc = subprocess.Popen(
            ["mosquitto_sub", "-p", str(port), "-q", "2", "-c", "-i", "counter", "-t", "e4/#", "-F", "%t"],
            stdout=open(self.path, "w"))
        time.sleep(0.5)

    def lines(self):
        with open(self.path) as f:
            return f.read().split()

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def scenario(name, fault, clients, persistence):
    work = tempfile.mkdtemp(prefix="e4-delivery-")
    broker = Broker(work, persistence)
    broker.start()
    counter = Counter(work, broker.port)
    c2 = C2(work, broker.port)
    c2.start()
    c2.call("POST", "/v1/topics", {"topic": "t"})
    for i in range(clients):
        c2.call("POST", "/v1/clients", {"name": f"d{i}"})
        c2.call("PUT", f"/v1/clients/d{i}/topics/t")
    end = time.time() + 120
    while len(counter.lines()) < clients and time.time() < end:
        time.sleep(0.1)
    joins = collections.Counter(counter.lines())
    base = len(counter.lines())
    t0 = time.time()
    c2.call("POST", "/v1/topics/t/rotate")
    if fault == "c2-kill":
        time.sleep(0.2)
        c2.kill()
        c2.start()
    elif fault == "broker-restart":
        time.sleep(0.2)
        broker.stop()
        broker.start()
    # Delivered when the outbox is empty and the subscriber stopped growing.
    end = time.time() + 120
    last, still = -1, 0
    while time.time() < end:
        n = len(counter.lines())
        if c2.pending() == 0 and n == last:
            still += 1
            if still >= 10:
                break
        else:
            still = 0
        last = n
        time.sleep(0.1)
    took = time.time() - t0 - 1.0
    seen = collections.Counter(counter.lines()[base:])
    once = sum(1 for v in seen.values() if v == 1)
    dups = sum(v - 1 for v in seen.values() if v > 1)
    lost = clients - len(seen)
    result = dict(scenario=name, clients=clients, join_dups=sum(v - 1 for v in joins.values() if v > 1),
                  once=once, duplicates=dups, not_received=lost, pending=c2.pending(),
                  seconds=round(took, 2), broker_dropped_c2=broker.dropped_c2())
    c2.stop()
    counter.stop()
    broker.stop()
    shutil.rmtree(work, ignore_errors=True)
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=1200)
    ap.add_argument("--busy", type=int, default=2, help="busy loops beside")
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    if not shutil.which("mosquitto"):
        raise SystemExit("mosquitto is needed (apt-get install -y mosquitto mosquitto-clients)")
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(a.busy)]
    try:
        print(f"load average before: {os.getloadavg()}; {a.busy} busy loops beside", flush=True)
        rows = []
        for _ in range(a.runs):
            for name, fault, pers in [("no fault", None, True),
                                      ("C2 SIGKILL 0.2 s into the rotation", "c2-kill", True),
                                      ("broker restart (persistence on) 0.2 s in", "broker-restart", True),
                                      ("broker restart (persistence off) 0.2 s in", "broker-restart", False)]:
                r = scenario(name, fault, a.clients, pers)
                rows.append(r)
                print(json.dumps(r), flush=True)
    finally:
        for b in busy:
            b.kill()
    print()
    print("| scenario | commands | received once | duplicates | not received (broker lost them) | left pending | broker dropped C2 |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    by = collections.defaultdict(list)
    for r in rows:
        by[r["scenario"]].append(r)
    for name, rs in by.items():
        f = lambda k: "/".join(str(r[k]) for r in rs)
        print(f"| {name} | {rs[0]['clients']} | {f('once')} | {f('duplicates')} | {f('not_received')} | "
              f"{f('pending')} | {f('broker_dropped_c2')} |")


if __name__ == "__main__":
    main()
