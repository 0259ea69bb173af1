"""`delta-sync mcp` figures for bench.py: an MCP client speaking newline-delimited JSON-RPC to the
server over stdio (as an MCP host does), timing what the host waits for.

- a read of a 3-change delta ÷ a full read of a 10,000-row table: bytes and time (the seed's
  whole point: an agent's context holds the change, not the catalog again);
- notification latency: commit of a subscribed table → notifications/resources/updated arrives,
  with NOTIFY off (the default since 1.2): the server's feed hears of it through
  delta_sync.wait(); and the same with NOTIFY on (the feed waits with wait() either way);
- the server's peak RSS (VmHWM) while it serves a 1,000,000-row snapshot.
"""
import json
import os
import select
import statistics
import subprocess
import time


def summary(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "samples": values}


class StdioServer:
    """`delta-sync mcp TABLE...` with a line reader that can count a message without keeping it."""

    def __init__(self, binary, tables, env=None):
        self.proc = subprocess.Popen([binary, "mcp"] + tables, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        self.fd = self.proc.stdout.fileno()
        self.buf = b""
        self.next_id = 0
        self.pending_notifications = []
        r, _, _ = self.call("initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                        "clientInfo": {"name": "bench", "version": "1"}})
        assert r["result"]["protocolVersion"] == "2025-06-18"
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def send(self, msg):
        self.proc.stdin.write((json.dumps(msg) + "\n").encode())
        self.proc.stdin.flush()

    def line(self, keep=True, timeout=None):
        """The next message: (text or None when not kept, size in bytes); None on timeout."""
        deadline = None if timeout is None else time.perf_counter() + timeout
        kept, size = [], 0
        while True:
            nl = self.buf.find(b"\n")
            if nl >= 0:
                part, self.buf = self.buf[:nl], self.buf[nl + 1:]
                size += len(part)
                if keep:
                    kept.append(part)
                else:
                    self.tail = (getattr(self, "tail", b"") + part)[-300:]
                return (b"".join(kept) if keep else None), size
            size += len(self.buf)
            if keep:
                kept.append(self.buf)
            else:
                self.tail = (getattr(self, "tail", b"") + self.buf)[-300:]
            self.buf = b""
            wait = None if deadline is None else max(0, deadline - time.perf_counter())
            if not select.select([self.fd], [], [], wait)[0]:
                return None
            chunk = os.read(self.fd, 1 << 20)
            if not chunk:
                raise RuntimeError("delta-sync mcp exited")
            self.buf = chunk

    def call(self, method, params, keep=True):
        """(response or None when not kept, bytes, seconds) of one request."""
        self.next_id += 1
        start = time.perf_counter()
        self.send({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        while True:
            text, size = self.line(keep=keep)
            if keep:
                msg = json.loads(text)
                if "id" not in msg:
                    self.pending_notifications.append(msg)
                    continue
                return msg, size, time.perf_counter() - start
            return None, size, time.perf_counter() - start

    def peak_rss_kib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        return 0

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def measure_latency(server, db, table, uri, runs, first_id):
    """Seconds from a commit's return to the arrival of its notifications/resources/updated."""
    latency = []
    for i in range(runs):
        server.pending_notifications.clear()
        db.run("UPDATE %s SET stock = stock + 1 WHERE id = %d" % (table, first_id + i))
        committed = time.perf_counter()
        got = None
        while got is None:
            text, _ = server.line(timeout=5)
            if text is None:
                raise RuntimeError("no notification within 5 s")
            msg = json.loads(text)
            if msg.get("method") == "notifications/resources/updated" and msg["params"]["uri"] == uri:
                got = time.perf_counter()
        latency.append(got - committed)
        time.sleep(0.3)  # past the coalescing interval
    return latency


def bench_mcp(db, res, binary, runs, big_table, log):
    if not os.access(binary, os.X_OK):
        res["mcp"] = {"not_measured": "client not built"}
        return
    table = "mcp_10000"
    db.run("DROP TABLE IF EXISTS %s" % table)
    db.run("SELECT bench_products(%s, 10000)", (table,))
    db.run("SELECT delta_sync.track(%s)", (table,))
    db.run("SELECT delta_sync.set_notify(%s, false)", (table,))  # the default, whatever it is
    db.run("VACUUM ANALYZE %s" % table)
    server = StdioServer(binary, [table])
    try:
        uri = "db://%s/delta" % table
        full, full_bytes, _ = server.call("resources/read", {"uri": uri})
        docs = [json.loads(c["text"]) for c in full["result"]["contents"]]
        assert sum(len(d["created"]) for d in docs) == 10000
        since = docs[0]["serverVersion"]
        db.run("UPDATE %s SET stock = stock + 1 WHERE id = 17" % table)
        db.run("DELETE FROM %s WHERE id = 18" % table)
        db.run("INSERT INTO %s SELECT 10001, name, price, stock, tags, attrs FROM %s WHERE id = 19"
               % (table, table))
        delta_uri = "%s?since=%s" % (uri, since)
        delta, delta_bytes, _ = server.call("resources/read", {"uri": delta_uri})
        d = json.loads(delta["result"]["contents"][0]["text"])
        assert (len(d["created"]), len(d["updated"]), len(d["deleted"])) == (1, 1, 1), d

        times = {"full": [], "delta": []}
        for r in range(runs):
            order = ["full", "delta"] if r % 2 == 0 else ["delta", "full"]
            for k in order:
                _, _, sec = server.call("resources/read", {"uri": uri if k == "full" else delta_uri},
                                        keep=False)
                times[k].append(sec)

        # Notification latency: from the commit's return to the notification's arrival, NOTIFY
        # off: the feed waits in delta_sync.wait().
        server.call("resources/subscribe", {"uri": uri})
        time.sleep(0.3)
        waiting = db.run("SELECT count(*) FROM pg_stat_activity WHERE query LIKE %s "
                         "AND pid <> pg_backend_pid()", ("%delta_sync.wait(%",))
        if not waiting or waiting[0][0] == 0:
            raise RuntimeError("the server's feed is not waiting in delta_sync.wait()")
        latency = measure_latency(server, db, table, uri, runs, 100)
        # The same with NOTIFY on.
        db.run("SELECT delta_sync.set_notify(%s, true)", (table,))
        time.sleep(0.3)
        notified = measure_latency(server, db, table, uri, runs, 200)
    finally:
        server.close()


    # Peak RSS while serving the big snapshot (memory must follow the page, not the table).
    rss, sizes, seconds = [], [], []
    for _ in range(3):
        big = StdioServer(binary, [big_table])
        try:
            _, size, sec = big.call("resources/read", {"uri": "db://%s/delta" % big_table}, keep=False)
            if b'"complete":true' not in big.tail:
                raise RuntimeError("the big read did not complete")
            rss.append(big.peak_rss_kib() / 1024)
            sizes.append(size)
            seconds.append(sec)
        finally:
            big.close()

    res["mcp"] = {
        "full_bytes": full_bytes, "delta_bytes": delta_bytes,
        "delta_vs_full_bytes": summary([delta_bytes / full_bytes]),
        "seconds": {k: summary(v) for k, v in times.items()},
        "delta_vs_full_time": summary([a / b for a, b in zip(times["delta"], times["full"])]),
        "notification_latency_ms": summary([x * 1000 for x in latency]),
        "notification_latency_notify_on_ms": summary([x * 1000 for x in notified]),
        "big_table": big_table, "big_read_bytes": sizes[0], "big_read_seconds": summary(seconds),
        "peak_rss_mib": summary(rss),
    }
    log("mcp: delta ÷ full bytes %.5f, time %.3f; notification %.1f ms; peak RSS %.1f MiB" % (
        delta_bytes / full_bytes, res["mcp"]["delta_vs_full_time"]["median"],
        res["mcp"]["notification_latency_ms"]["median"], res["mcp"]["peak_rss_mib"]["median"]))
