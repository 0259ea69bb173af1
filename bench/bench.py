#!/usr/bin/python3
"""The delta_sync benchmarks, run by bench/run.sh against its own throwaway cluster.

Every figure is a ratio of two things measured in the same run on the same data: each run times
the subject and its baseline back to back (their order alternating from run to run), the ratio is
taken per run, and the report gives the median of the runs with the min and max beside it. A
shared, noisy machine slows both sides of a ratio alike; absolute times are reported only as context.

Server-side time is what is measured: every timed statement reduces its output to a number in the
server (see queries.sql), and the clock (time.perf_counter) runs around execute + fetch over the
Unix socket, so a figure includes one round trip (~0.1 ms) and no client-side JSON handling.

Writes bench results as JSON (raw samples included) for report.py.
"""
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import psycopg2

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

SIZES = [int(s) for s in os.environ.get("BENCH_SIZES", "10000,100000,1000000").split(",")]
BIG = max(SIZES)
SMALL = min(SIZES)
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
PAGE_SIZE = int(os.environ.get("BENCH_PAGE_SIZE", "10000"))
WRITE_ROWS = int(os.environ.get("BENCH_WRITE_ROWS", "1000000"))
PGBENCH_ROWS = 100000  # fixed by pgbench_*.sql
DELETE_ROWS = int(os.environ.get("BENCH_DELETE_ROWS", "100000"))
SINGLE_DELETES = int(os.environ.get("BENCH_SINGLE_DELETES", "2000"))
PGBENCH_SECONDS = int(os.environ.get("BENCH_PGBENCH_SECONDS", "10"))
PGBENCH_CLIENTS = 8
CHANGES = 100
MANY_CHANGES = 300000  # change_many touches 3 rows in 10
CLIENT = os.environ.get("BENCH_CLIENT", os.path.join(ROOT, "build", "delta-sync"))


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def load_queries():
    """name -> SQL text, from queries.sql (a statement runs from its '-- name:' line to a blank line)."""
    queries, name, lines = {}, None, []
    with open(os.path.join(HERE, "queries.sql")) as f:
        for line in f.read().splitlines() + [""]:
            m = re.match(r"--\s*name:\s*(\w+)", line)
            if m:
                name, lines = m.group(1), []
            elif name and not line.strip():
                queries[name] = "\n".join(lines).strip().rstrip(";")
                name = None
            elif name and not line.lstrip().startswith("--"):
                lines.append(line)
    return queries


Q = load_queries()


def sql(name, **fmt):
    return Q[name].format(**fmt) if fmt else Q[name]


class Db:
    def __init__(self, dsn=""):
        self.conn = psycopg2.connect(dsn)
        self.conn.autocommit = True
        self.cur = self.conn.cursor()

    def run(self, text, params=None):
        self.cur.execute(text, params)
        return self.cur.fetchall() if self.cur.description else None

    def one(self, text, params=None):
        return self.run(text, params)[0][0]

    def timed(self, text, params=None, repeat=1):
        """Mean seconds of `repeat` executions (execute + fetch)."""
        start = time.perf_counter()
        for _ in range(repeat):
            self.cur.execute(text, params)
            if self.cur.description:
                self.cur.fetchall()
        return (time.perf_counter() - start) / repeat


def summary(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "samples": values}


def interleaved(runs, subjects):
    """subjects: name -> zero-argument function returning seconds. Each run times every subject
    once; the order rotates from run to run so no subject always goes first."""
    names = list(subjects)
    samples = {n: [] for n in names}
    for r in range(runs):
        order = names[r % len(names):] + names[:r % len(names)]
        if r % 2:
            order.reverse()
        for n in order:
            samples[n].append(subjects[n]())
    return samples


def ratios(samples, a, b):
    return [x / y for x, y in zip(samples[a], samples[b])]


def repeat_for(db, text, params, budget=0.25, cap=50):
    """How many repetitions make one timed sample last about `budget` seconds."""
    t = db.timed(text, params)
    return max(1, min(cap, int(budget / max(t, 1e-6))))


# ---------------------------------------------------------------------------------------------


def machine(db):
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "postgresql": db.one("SELECT version()"),
        "loadavg_at_start": open("/proc/loadavg").read().split()[:3],
    }


def setup(db):
    log("setup: schema and data (%s rows; writes on %d rows)" % (",".join(map(str, SIZES)), WRITE_ROWS))
    with open(os.path.join(HERE, "schema.sql")) as f:
        db.run(f.read())
    for n in SIZES:
        db.run("SELECT bench_products(%s, %s)", ("ds_%d" % n, n))
        db.run("SELECT delta_sync.track(%s)", ("ds_%d" % n,))
        db.run("SELECT bench_seed(%s, %s)", ("seed_%d" % n, n))
    db.run("SELECT bench_write_tables(%s)", (WRITE_ROWS,))
    db.run("SELECT bench_pgbench_tables(%s)", (PGBENCH_ROWS,))
    db.run("VACUUM ANALYZE")
    db.run("CHECKPOINT")


def bench_snapshot(db, res):
    """Full snapshot as JSON vs COPY, to_json per row and json_agg, at every size."""
    out = {}
    for n in SIZES:
        t = "ds_%d" % n
        texts = {
            "delta_since": (sql("snapshot_delta_since", t=t), None),
            "delta_since_paged": (sql("snapshot_delta_since_paged", t=t), {"page_size": PAGE_SIZE}),
            "copy": (sql("snapshot_copy", t=t), None),
            "to_json": (sql("snapshot_to_json", t=t), None),
            "json_agg": (sql("snapshot_json_agg", t=t), None),
        }
        reps = {k: repeat_for(db, q, p, budget=0.3) for k, (q, p) in texts.items()}  # also warms up
        doc_bytes = db.one(*texts["delta_since"])
        agg_bytes = db.one(*texts["json_agg"])
        log("snapshot %d rows: document %d bytes (json_agg %d)" % (n, doc_bytes, agg_bytes))
        s = interleaved(RUNS, {k: (lambda q=q, p=p, r=reps[k]: db.timed(q, p, r))
                               for k, (q, p) in texts.items()})
        out[n] = {"seconds": {k: summary(v) for k, v in s.items()},
                  "document_bytes": doc_bytes, "json_agg_bytes": agg_bytes,
                  "vs_copy": summary(ratios(s, "delta_since", "copy")),
                  "paged_vs_copy": summary(ratios(s, "delta_since_paged", "copy")),
                  "vs_json_agg": summary(ratios(s, "delta_since", "json_agg")),
                  "paged_vs_json_agg": summary(ratios(s, "delta_since_paged", "json_agg")),
                  "to_json_vs_copy": summary(ratios(s, "to_json", "copy")),
                  "json_agg_vs_copy": summary(ratios(s, "json_agg", "copy"))}
        log("  delta_since/COPY %.2f  paged/COPY %.2f  delta_since/json_agg %.2f" % (
            out[n]["vs_copy"]["median"], out[n]["paged_vs_copy"]["median"],
            out[n]["vs_json_agg"]["median"]))
    res["snapshot"] = out


def bench_delta(db, res):
    """delta_since of 100 changes vs the seed's three queries, at every size, in the same runs."""
    rng = random.Random(5)
    texts, counts = {}, {}
    for n in SIZES:
        ids = rng.sample(range(1, n + 1), CHANGES)
        cursor = db.one(sql("cursor_now", t="ds_%d" % n))
        since = db.one("SELECT now()")
        db.run(sql("change_rows", t="ds_%d" % n), {"ids": ids})
        db.run(sql("change_rows", t="seed_%d" % n), {"ids": ids})
        texts["delta_%d" % n] = (sql("delta", t="ds_%d" % n), {"cursor": cursor})
        texts["seed_%d" % n] = (sql("seed_delta", t="seed_%d" % n), {"since": since})
        counts[n] = {"delta_since": db.run(sql("delta_check", t="ds_%d" % n), {"cursor": cursor})[0],
                     "seed": db.run(sql("seed_delta_check", t="seed_%d" % n), {"since": since})[0]}
        assert tuple(counts[n]["delta_since"]) == (0, CHANGES, 0, False), counts[n]
        assert tuple(counts[n]["seed"]) == (0, CHANGES, 0, False), counts[n]
    for q, p in texts.values():  # warm: plans, hint bits, caches
        db.timed(q, p, 3)
    reps = max(repeat_for(db, q, p, budget=0.1) for q, p in texts.values())
    s = interleaved(RUNS, {k: (lambda q=q, p=p: db.timed(q, p, reps)) for k, (q, p) in texts.items()})
    out = {"repeat": reps, "checks": {str(k): v for k, v in counts.items()},
           "plans": {"delta_since": nested_plans(db, *texts["delta_%d" % BIG]),
                     "seed": nested_plans(db, *texts["seed_%d" % BIG])},
           "seconds": {k: summary(v) for k, v in s.items()},
           "big_vs_small": summary(ratios(s, "delta_%d" % BIG, "delta_%d" % SMALL)),
           "vs_seed": {n: summary(ratios(s, "delta_%d" % n, "seed_%d" % n)) for n in SIZES}}
    log("delta of %d changes: %d÷%d rows %.2f, ÷ seed at %d rows %.2f" % (
        CHANGES, BIG, SMALL, out["big_vs_small"]["median"], BIG, out["vs_seed"][BIG]["median"]))
    res["delta"] = out


def bench_shapes(db, res):
    """A shaped delta (filter => 'stock < 100', a tenth of the rows) of 100 changes on the largest
    table vs the unfiltered delta of the same changes, in the same runs: once with an index on the
    filter's column, once without. Each side has its own cursor, taken at the same moment (a
    cursor belongs to its shape)."""
    t = "ds_%d" % BIG
    shape_filter = "stock < 100"
    rng = random.Random(16)
    out = {"filter": shape_filter}
    for label, indexed in (("indexed", True), ("not_indexed", False)):
        if indexed:
            db.run("CREATE INDEX bench_shape_stock ON %s (stock)" % t)
        db.run("ANALYZE %s" % t)
        ids = rng.sample(range(1, BIG + 1), CHANGES)
        plain = db.one(sql("cursor_now", t=t))
        shaped = db.one(sql("cursor_now_shaped", t=t), {"filter": shape_filter})
        db.run(sql("change_rows", t=t), {"ids": ids})
        texts = {"unfiltered": (sql("delta", t=t), {"cursor": plain}),
                 "filtered": (sql("delta_shaped", t=t), {"cursor": shaped, "filter": shape_filter})}
        check = {"unfiltered": db.run(sql("delta_check", t=t), {"cursor": plain})[0],
                 "filtered": db.run(sql("delta_check_shaped", t=t),
                                    {"cursor": shaped, "filter": shape_filter})[0]}
        assert tuple(check["unfiltered"]) == (0, CHANGES, 0, False), check
        f = check["filtered"]  # every changed row: updated when it matches, else deleted
        assert f[0] == 0 and f[1] + f[2] == CHANGES and f[1] > 0 and f[2] > 0 and not f[3], check
        for q, p in texts.values():
            db.timed(q, p, 3)
        reps = max(repeat_for(db, q, p, budget=0.1) for q, p in texts.values())
        s = interleaved(RUNS, {k: (lambda q=q, p=p: db.timed(q, p, reps)) for k, (q, p) in texts.items()})
        out[label] = {"repeat": reps, "checks": check,
                      "plan": nested_plans(db, *texts["filtered"]),
                      "seconds": {k: summary(v) for k, v in s.items()},
                      "filtered_vs_unfiltered": summary(ratios(s, "filtered", "unfiltered"))}
        log("shaped delta of %d changes on %d rows (%s): filtered ÷ unfiltered %.2f (%.3f ms vs %.3f ms)" % (
            CHANGES, BIG, label.replace("_", " "), out[label]["filtered_vs_unfiltered"]["median"],
            out[label]["seconds"]["filtered"]["median"] * 1e3,
            out[label]["seconds"]["unfiltered"]["median"] * 1e3))
        if indexed:
            db.run("DROP INDEX bench_shape_stock")
    res["shapes"] = out


def bench_empty(db, res):
    """An empty delta (nothing changed since the cursor) on the largest table, called through a
    prepared statement: 1,000 calls in one execution (the cost of a call inside the server), and
    one call per execution against a prepared `SELECT 1` over the same connection (both with the
    client's round trip)."""
    t = "ds_%d" % BIG
    cursor = db.one(sql("cursor_now", t=t))
    db.run("PREPARE bench_empty(text) AS " + sql("empty_delta", t=t))
    db.run("PREPARE bench_one AS SELECT 1")
    db.run("PREPARE bench_empty_loop(text) AS " + sql("empty_delta_loop", t=t))
    check = db.run(sql("delta_check", t=t), {"cursor": cursor})[0]
    assert tuple(check) == (0, 0, 0, False), check
    texts = {"empty": ("EXECUTE bench_empty(%(cursor)s)", {"cursor": cursor}),
             "select_1": ("EXECUTE bench_one", None)}
    for q, p in texts.values():
        db.timed(q, p, 200)
    reps = 2000
    subjects = {k: (lambda q=q, p=p: db.timed(q, p, reps)) for k, (q, p) in texts.items()}
    loop = ("EXECUTE bench_empty_loop(%(cursor)s)", {"cursor": cursor})
    db.timed(*loop, 2)
    subjects["in_server"] = lambda: db.timed(*loop, 5) / 1000
    s = interleaved(RUNS, subjects)
    out = {"repeat": reps, "seconds": {k: summary(v) for k, v in s.items()},
           "vs_select_1": summary(ratios(s, "empty", "select_1")),
           "beyond_select_1": summary([a - b for a, b in zip(s["empty"], s["select_1"])])}
    log("empty delta: %.4f ms per call in the server; %.4f ms per execution, %.2f × SELECT 1" % (
        out["seconds"]["in_server"]["median"] * 1e3, out["seconds"]["empty"]["median"] * 1e3,
        out["vs_select_1"]["median"]))
    res["empty"] = out


def plan_of(db, text):
    return [r[0] for r in db.run("EXPLAIN " + text)]


def nested_plans(db, text, params=None):
    """The plans of the statements a call runs inside the server (auto_explain, as notices)."""
    db.run("LOAD 'auto_explain'")
    db.run("SET auto_explain.log_min_duration = 0")
    db.run("SET auto_explain.log_nested_statements = on")
    db.run("SET auto_explain.log_analyze = on")
    db.run("SET auto_explain.log_timing = off")
    db.run("SET client_min_messages = log")
    del db.conn.notices[:]
    try:
        db.run(text, params)
        return [n.strip() for n in db.conn.notices]
    finally:
        db.run("RESET client_min_messages")
        db.run("SET auto_explain.log_min_duration = -1")
        del db.conn.notices[:]


FORCE_SEQ_SCAN = "SET enable_indexscan = off; SET enable_indexonlyscan = off; SET enable_bitmapscan = off"


def bench_refuse(db, res):
    """Refusing a 300,000-change delta at max_changes 1000 vs one sequential scan of the table."""
    t, seed = "ds_%d" % BIG, "seed_%d" % BIG
    cursor = db.one(sql("cursor_now", t=t))
    since = db.one("SELECT now()")
    db.run(sql("change_many", t=t))
    db.run(sql("change_many", t=seed))
    db.run("VACUUM ANALYZE %s, %s" % (t, seed))
    changed = db.one("SELECT count(*) FROM %s WHERE mod(id, 10) < 3" % t)
    check = db.run(sql("delta_check", t=t).replace("%(cursor)s)", "%(cursor)s, max_changes => 1000)"),
                   {"cursor": cursor})[0]
    assert tuple(check) == (0, 0, 0, True), check
    seed_check = db.run(sql("seed_delta_check", t=seed), {"since": since})[0]
    assert tuple(seed_check) == (0, 0, 0, True), seed_check
    refuse = (sql("refuse", t=t), {"cursor": cursor})
    scan = (sql("seq_scan", t=t), None)
    seed_refuse = (sql("seed_delta", t=seed), {"since": since})
    db.timed(*refuse)
    db.timed(*scan)
    db.timed(*seed_refuse)
    r_refuse = repeat_for(db, *refuse, budget=0.1)
    r_scan = repeat_for(db, *scan, budget=0.1)
    def forced_seq_scan():
        db.run(FORCE_SEQ_SCAN)
        try:
            return db.timed(*scan, r_scan)
        finally:
            db.run("RESET ALL")

    s = interleaved(RUNS, {"refuse": lambda: db.timed(*refuse, r_refuse),
                           "seq_scan": lambda: db.timed(*scan, r_scan),
                           "forced_seq_scan": forced_seq_scan,
                           "seed_refuse": lambda: db.timed(*seed_refuse)})
    db.run(FORCE_SEQ_SCAN)
    forced_plan = plan_of(db, scan[0])
    db.run("RESET ALL")
    res["refuse"] = {"changes": changed, "seconds": {k: summary(v) for k, v in s.items()},
                     "vs_seq_scan": summary(ratios(s, "refuse", "seq_scan")),
                     "seed_vs_seq_scan": summary(ratios(s, "seed_refuse", "seq_scan")),
                     "vs_forced_seq_scan": summary(ratios(s, "refuse", "forced_seq_scan")),
                     "forced_seq_scan_plan": forced_plan,
                     "seq_scan_plan": plan_of(db, scan[0]),
                     "delta_since_plans": nested_plans(db, *refuse)}
    log("refuse %d changes ÷ seq scan: %.4f (seed %.2f)" % (
        changed, res["refuse"]["vs_seq_scan"]["median"], res["refuse"]["seed_vs_seq_scan"]["median"]))


def bench_writes(db, res):
    """Bulk UPDATE of every row: tracked vs moddatetime, PL/pgSQL and no trigger."""
    variants = ["tracked", "moddatetime", "plpgsql", "none"]

    def one(v):
        def f():
            db.run("VACUUM w_%s" % v)
            db.run("CHECKPOINT")
            return db.timed(sql("bulk_" + v))
        return f

    for v in variants:  # one untimed round: every table gets its first round of dead rows alike
        one(v)()
    s = interleaved(RUNS, {v: one(v) for v in variants})
    res["writes"] = {"rows": WRITE_ROWS, "seconds": {k: summary(v) for k, v in s.items()},
                     "vs_moddatetime": summary(ratios(s, "tracked", "moddatetime")),
                     "vs_none": summary(ratios(s, "tracked", "none")),
                     "vs_plpgsql": summary(ratios(s, "tracked", "plpgsql")),
                     "moddatetime_vs_none": summary(ratios(s, "moddatetime", "none"))}
    log("bulk update ÷ moddatetime %.2f, ÷ no trigger %.2f" % (
        res["writes"]["vs_moddatetime"]["median"], res["writes"]["vs_none"]["median"]))


def bench_deletes(db, res):
    """DELETE in hard-delete mode (the row goes, a tombstone is written) ÷ the same table
    untracked: one bulk DELETE of every row, and single-row DELETEs each in its own transaction.
    Both tables are refilled (and the tombstones emptied) untimed before every sample."""
    db.run("DROP TABLE IF EXISTS del_hard, del_none")
    for t in ("del_hard", "del_none"):
        db.run("CREATE TABLE %s (id integer PRIMARY KEY, name text NOT NULL, qty integer NOT NULL)" % t)
    db.run("SELECT delta_sync.track('del_hard', deletes => 'hard')")
    db.run("ALTER TABLE del_none ADD COLUMN created_at timestamptz NOT NULL DEFAULT now(), "
           "ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now(), ADD COLUMN deleted_at timestamptz")

    def refill(t, rows):
        if t == "del_hard":
            db.run("TRUNCATE del_hard_delta_sync_tombstones")
        db.run("DELETE FROM %s" % t)
        db.run("INSERT INTO %s (id, name, qty) SELECT g, 'row ' || g, g %% 17 "
               "FROM generate_series(1, %d) g" % (t, rows))
        db.run("VACUUM %s" % t)
        db.run("CHECKPOINT")

    def bulk(t):
        def f():
            refill(t, DELETE_ROWS)
            return db.timed("DELETE FROM %s" % t)
        return f

    def single(t):
        def f():
            refill(t, SINGLE_DELETES)
            start = time.perf_counter()
            for i in range(1, SINGLE_DELETES + 1):
                db.cur.execute("DELETE FROM %s WHERE id = %%s" % t, (i,))
            return (time.perf_counter() - start) / SINGLE_DELETES
        return f

    b = interleaved(RUNS, {t: bulk(t) for t in ("del_hard", "del_none")})
    s1 = interleaved(RUNS, {t: single(t) for t in ("del_hard", "del_none")})
    res["deletes"] = {"bulk_rows": DELETE_ROWS, "single_deletes": SINGLE_DELETES,
                      "bulk_seconds": {k: summary(v) for k, v in b.items()},
                      "single_seconds": {k: summary(v) for k, v in s1.items()},
                      "bulk_hard_vs_untracked": summary(ratios(b, "del_hard", "del_none")),
                      "single_hard_vs_untracked": summary(ratios(s1, "del_hard", "del_none"))}
    db.run("DROP TABLE del_hard, del_none")
    log("hard-delete mode ÷ untracked: bulk DELETE %.2f, single-row DELETE %.2f" % (
        res["deletes"]["bulk_hard_vs_untracked"]["median"],
        res["deletes"]["single_hard_vs_untracked"]["median"]))


PARTED_ROWS = int(os.environ.get("BENCH_PARTED_ROWS", "1000000"))
PARTITIONS = 8


def bench_partitioned(db, res):
    """delta_since of 100 changes on a partitioned table (PARTED_ROWS rows in 8 range partitions,
    tracked through its parent) ÷ the same on the same rows unpartitioned, in the same runs."""
    db.run("DROP TABLE IF EXISTS bench_parted, bench_flat")
    db.run("SELECT bench_products('bench_flat', %s)", (PARTED_ROWS,))
    db.run("CREATE TABLE bench_parted (LIKE bench_flat INCLUDING ALL) PARTITION BY RANGE (id)")
    step = PARTED_ROWS // PARTITIONS + 1
    for i in range(PARTITIONS):
        db.run("CREATE TABLE bench_parted_%d PARTITION OF bench_parted FOR VALUES FROM (%d) TO (%d)"
               % (i, 1 + i * step, 1 + (i + 1) * step))
    db.run("INSERT INTO bench_parted SELECT * FROM bench_flat")
    for t in ("bench_flat", "bench_parted"):
        db.run("SELECT delta_sync.track(%s)", (t,))
    db.run("VACUUM ANALYZE bench_flat, bench_parted")
    ids = random.Random(8).sample(range(1, PARTED_ROWS + 1), CHANGES)
    texts = {}
    for t in ("bench_flat", "bench_parted"):
        cursor = db.one(sql("cursor_now", t=t))
        db.run(sql("change_rows", t=t), {"ids": ids})
        check = db.run(sql("delta_check", t=t), {"cursor": cursor})[0]
        assert tuple(check) == (0, CHANGES, 0, False), (t, check)
        texts[t] = (sql("delta", t=t), {"cursor": cursor})
    for q, p in texts.values():  # warm: plans, hint bits, caches
        db.timed(q, p, 3)
    reps = max(repeat_for(db, q, p, budget=0.1) for q, p in texts.values())
    s = interleaved(RUNS, {k: (lambda q=q, p=p: db.timed(q, p, reps)) for k, (q, p) in texts.items()})
    res["partitioned"] = {"rows": PARTED_ROWS, "partitions": PARTITIONS, "changes": CHANGES,
                          "repeat": reps, "seconds": {k: summary(v) for k, v in s.items()},
                          "partitioned_vs_flat": summary(ratios(s, "bench_parted", "bench_flat"))}
    db.run("DROP TABLE bench_parted, bench_flat")
    log("delta of %d changes, %d rows in %d partitions ÷ unpartitioned: %.2f" % (
        CHANGES, PARTED_ROWS, PARTITIONS, res["partitioned"]["partitioned_vs_flat"]["median"]))


def pgbench(script, seconds, sample_waits=False, env=None):
    """TPS of one pgbench run; with sample_waits, also what its backends were waiting on."""
    argv = ["pgbench", "-n", "-M", "prepared", "-c", str(PGBENCH_CLIENTS), "-j", "2",
            "-T", str(seconds), "-f", os.path.join(HERE, script)]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    waits = {}
    if sample_waits:
        watcher = Db()
        time.sleep(1)
        while p.poll() is None:
            rows = watcher.run("SELECT coalesce(wait_event_type || ':' || wait_event, 'running (CPU)') "
                               "FROM pg_stat_activity WHERE application_name = 'pgbench' "
                               "AND state <> 'idle'")
            for (w,) in rows:
                waits[w] = waits.get(w, 0) + 1
            time.sleep(0.01)
        watcher.conn.close()
    out, err = p.communicate()
    if p.returncode != 0:
        raise RuntimeError("pgbench failed: " + err.strip()[-500:])
    m = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out)
    return float(m.group(1)), waits


def bench_pgbench(db, res):
    """8 pgbench clients of single-row updates by random id, tracked (as the README sets it up:
    NOTIFY off) vs untracked table; and, to show where the difference goes, the tracked table with
    NOTIFY turned on (delta_sync.set_notify, sent by the writers: no preloaded library here), and a
    table with the tracked table's columns and index but no trigger, whose statement writes them
    itself."""
    def one(kind):
        table = {"untracked": "untracked", "samecols": "samecols"}.get(kind, "tracked")

        def f():
            db.run("VACUUM pg_%s" % table)
            db.run("CHECKPOINT")
            if kind == "tracked_notify":
                db.run("SELECT delta_sync.set_notify('pg_tracked', true)")
            try:
                return pgbench("pgbench_%s.sql" % table, PGBENCH_SECONDS)[0]
            finally:
                if kind == "tracked_notify":
                    db.run("SELECT delta_sync.set_notify('pg_tracked', false)")
        return f

    kinds = ("tracked", "untracked", "tracked_notify", "samecols")
    s = interleaved(RUNS, {k: one(k) for k in kinds})
    db.run("VACUUM pg_tracked")
    _, waits = pgbench("pgbench_tracked.sql", 6, sample_waits=True)  # untimed: where time goes
    total = sum(waits.values()) or 1
    res["pgbench"] = {"clients": PGBENCH_CLIENTS, "seconds_per_run": PGBENCH_SECONDS,
                      "rows": PGBENCH_ROWS, "tps": {k: summary(v) for k, v in s.items()},
                      "tracked_vs_untracked": summary(ratios(s, "tracked", "untracked")),
                      "notify_vs_untracked": summary(ratios(s, "tracked_notify", "untracked")),
                      "samecols_vs_untracked": summary(ratios(s, "samecols", "untracked")),
                      "tracked_vs_samecols": summary(ratios(s, "tracked", "samecols")),
                      "tracked_wait_events": sorted(((k, v / total) for k, v in waits.items()),
                                                    key=lambda kv: -kv[1])[:6]}
    log("pgbench tracked ÷ untracked TPS %.3f (with NOTIFY on: %.3f)" % (
        res["pgbench"]["tracked_vs_untracked"]["median"],
        res["pgbench"]["notify_vs_untracked"]["median"]))


def timed_process(argv):
    """Wall seconds and peak RSS (KiB) of a process, from GNU time."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        start = time.perf_counter()
        p = subprocess.run(["/usr/bin/time", "-f", "%e %M", "-o", tf.name] + argv,
                           capture_output=True, text=True)
        wall = time.perf_counter() - start
        if p.returncode != 0:
            raise RuntimeError("%s failed (%d): %s" % (argv[0], p.returncode, p.stderr.strip()[-500:]))
        fields = tf.read().split()
    return wall, int(fields[-1])


def bench_client(db, res):
    """First sync of the big table into a SQLite replica vs psql's \\copy of the same rows."""
    if not os.access(CLIENT, os.X_OK):
        res["client"] = {"not_measured": "client not built"}
        log("client: not measured: client not built")
        return
    t = "ds_%d" % BIG
    work = tempfile.mkdtemp(prefix="delta_sync_bench_client.")
    replica, copy_file = os.path.join(work, "replica.db"), os.path.join(work, "copy.txt")
    rss = {"pull": [], "copy": []}

    def pull():
        for suffix in ("", "-journal", "-wal", "-shm"):
            if os.path.exists(replica + suffix):
                os.unlink(replica + suffix)
        wall, kib = timed_process([CLIENT, "pull", t, "--replica", replica])
        rss["pull"].append(kib)
        return wall

    def copy():
        if os.path.exists(copy_file):
            os.unlink(copy_file)
        wall, kib = timed_process(["psql", "-X", "-q", "-c", sql("client_copy", t=t, file=copy_file)])
        rss["copy"].append(kib)
        return wall

    try:
        pull()  # warm, and check the replica holds every row
        copy()
        rows = subprocess.run(["sqlite3", replica, "SELECT count(*) FROM %s" % t],
                              capture_output=True, text=True).stdout.strip()
        s = interleaved(RUNS, {"pull": pull, "copy": copy})
        res["client"] = {"rows_in_replica": rows, "seconds": {k: summary(v) for k, v in s.items()},
                         "vs_copy": summary(ratios(s, "pull", "copy")),
                         "peak_rss_mib": summary([k / 1024 for k in rss["pull"][1:]]),
                         "psql_peak_rss_mib": summary([k / 1024 for k in rss["copy"][1:]])}
        log("client first sync ÷ COPY %.2f, peak RSS %.1f MiB" % (
            res["client"]["vs_copy"]["median"], res["client"]["peak_rss_mib"]["median"]))
    except Exception as e:  # a broken client must not cost the other figures
        res["client"] = {"not_measured": "client failed: %s" % e}
        log("client: not measured: %s" % e)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def bench_mcp(db, res):
    """`delta-sync mcp`: a 3-change delta read vs a full read, notification latency, peak RSS."""
    import mcp_bench
    try:
        mcp_bench.bench_mcp(db, res, CLIENT, RUNS, "ds_%d" % BIG, log)
    except Exception as e:  # a broken server must not cost the other figures
        res["mcp"] = {"not_measured": "mcp failed: %s" % e}
        log("mcp: not measured: %s" % e)


# --- live changes: write speed by configuration, wake-up latency, idle waiters -------------------

LIVE_SECONDS = int(os.environ.get("BENCH_LIVE_SECONDS", "5"))
LIVE_PORT = int(os.environ.get("BENCH_LIVE_PORT", "5464"))
LIVE_WAKEUPS = int(os.environ.get("BENCH_LIVE_WAKEUPS", "200"))
IDLE_WAITERS = 100


class LiveCluster:
    """A throwaway cluster of tests/cluster.sh with its own settings (fsync, preloading)."""

    def __init__(self, fsync, preloaded):
        self.path = tempfile.mkdtemp(prefix="delta_sync_bench_live.")
        os.chmod(self.path, 0o755)
        conf = ["shared_buffers = 256MB", "autovacuum = off", "jit = off", "max_wal_size = 4GB",
                "checkpoint_timeout = 1h", "max_connections = %d" % (IDLE_WAITERS + 20)]
        if fsync:
            conf += ["fsync = on", "synchronous_commit = on"]
        if preloaded:
            conf.append("shared_preload_libraries = 'delta_sync'")
        subprocess.run(["bash", os.path.join(ROOT, "tests", "cluster.sh"), "start",
                        os.path.join(self.path, "c"), str(LIVE_PORT)] + conf, check=True,
                       stdout=subprocess.DEVNULL)
        self.env = dict(os.environ, PGHOST=os.path.join(self.path, "c", "sock"),
                        PGPORT=str(LIVE_PORT), PGUSER="postgres", PGDATABASE="postgres")
        self.dsn = "host=%s port=%d user=postgres dbname=postgres" % (self.env["PGHOST"], LIVE_PORT)

    def stop(self):
        subprocess.run(["bash", os.path.join(ROOT, "tests", "cluster.sh"), "stop",
                        os.path.join(self.path, "c")], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        shutil.rmtree(self.path, ignore_errors=True)


def live_tps(cluster, db):
    """Updates and inserts from 8 pgbench clients: tracked (README set-up), untracked, and the
    tracked columns and index with no trigger (the floor), interleaved."""
    def one(script, table, notify=False):
        def f():
            db.run("VACUUM %s" % table)
            db.run("CHECKPOINT")
            if notify:
                db.run("SELECT delta_sync.set_notify(%s, true)", (table,))
            try:
                return pgbench(script, LIVE_SECONDS, env=cluster.env)[0]
            finally:
                if notify:
                    db.run("SELECT delta_sync.set_notify(%s, false)", (table,))
        return f

    out = {}
    for op, prefix, tables in (("updates", "pgbench_", "pg_"), ("inserts", "pgbench_insert_", "ins_")):
        subjects = {k: one(prefix + k + ".sql", tables + k) for k in ("tracked", "untracked", "samecols")}
        if op == "updates":  # the cost of opting into NOTIFY (set_notify)
            subjects["tracked_notify"] = one(prefix + "tracked.sql", tables + "tracked", notify=True)
        s = interleaved(RUNS, subjects)
        out[op] = {"tps": {k: summary(v) for k, v in s.items()},
                   "tracked_vs_untracked": summary(ratios(s, "tracked", "untracked")),
                   "samecols_vs_untracked": summary(ratios(s, "samecols", "untracked"))}
        if "tracked_notify" in s:
            out[op]["notify_vs_untracked"] = summary(ratios(s, "tracked_notify", "untracked"))
    return out


def live_wakeups(cluster, db):
    """Commit-to-wake latency of delta_sync.wait(): a waiter waits on pg_tracked for changes
    after it began, the writer updates a row 20-40 ms later; the clock runs from the writer's COMMIT returning to the wait
    returning (both in this process; negative when the waiter returns first)."""
    import threading
    waiter = Db(cluster.dsn)
    lat = []
    for _ in range(LIVE_WAKEUPS):
        done = {}

        def wait():  # NULL cursor: changes committed after the wait began
            waiter.run("SELECT delta_sync.wait('{pg_tracked}', NULL, '10 s')")
            done["t"] = time.perf_counter()

        t = threading.Thread(target=wait)
        t.start()
        time.sleep(0.02 + random.random() * 0.02)
        db.run("UPDATE pg_tracked SET stock = stock + 1 WHERE id = %s", (random.randint(1, PGBENCH_ROWS),))
        committed = time.perf_counter()
        t.join()
        lat.append(done["t"] - committed)
    waiter.conn.close()
    lat.sort()
    return {"samples": len(lat), "p50_ms": lat[len(lat) // 2] * 1e3,
            "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1e3, "max_ms": lat[-1] * 1e3}


def live_client_latency(cluster, db, samples=100):
    """Commit-to-replica latency of `delta-sync pull --watch`: from an UPDATE's COMMIT returning
    to the replica (SQLite, read every millisecond) showing it."""
    import sqlite3
    if not os.access(CLIENT, os.X_OK):
        return {"not_measured": "client not built"}
    work = tempfile.mkdtemp(prefix="delta_sync_bench_watch.")
    replica = os.path.join(work, "replica.db")
    proc = subprocess.Popen([CLIENT, "pull", "pg_tracked", "--replica", replica, "--watch",
                             "--poll-interval", "3600", "--quiet", "--dsn", cluster.dsn],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stock(key):
        try:
            r = sqlite3.connect(replica, timeout=30)
            try:
                row = r.execute("SELECT stock FROM pg_tracked WHERE id = ?", (key,)).fetchone()
                return row[0] if row else None
            finally:
                r.close()
        except sqlite3.OperationalError:
            return None

    def until(key, value, limit=60):
        start = time.perf_counter()
        while stock(key) != value:
            if time.perf_counter() - start > limit:
                raise RuntimeError("the replica did not catch up")
            time.sleep(0.001)
        return time.perf_counter()

    try:
        until(1, db.one("SELECT stock FROM pg_tracked WHERE id = 1"), 600)  # first sync
        lat = []
        for _ in range(samples):
            key = random.randint(1, PGBENCH_ROWS)
            value = db.one("UPDATE pg_tracked SET stock = stock + 1 WHERE id = %s RETURNING stock", (key,))
            committed = time.perf_counter()
            lat.append(until(key, value) - committed)
            time.sleep(0.02)
        lat.sort()
        return {"samples": len(lat), "p50_ms": lat[len(lat) // 2] * 1e3,
                "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1e3}
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(work, ignore_errors=True)


def cpu_seconds(pids):
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def live_idle_cpu(cluster, db, seconds=10):
    """CPU of 100 backends waiting on a table nobody writes, against 100 idle connections."""
    import threading
    conns = [Db(cluster.dsn) for _ in range(IDLE_WAITERS)]
    pids = [c.one("SELECT pg_backend_pid()") for c in conns]
    before = cpu_seconds(pids)
    time.sleep(seconds)
    idle = cpu_seconds(pids) - before

    def wait(c):
        try:
            c.run("SELECT delta_sync.wait('{pg_tracked}', NULL, '1 hour')")
        except psycopg2.Error:
            pass

    threads = [threading.Thread(target=wait, args=(c,)) for c in conns]
    for t in threads:
        t.start()
    time.sleep(1)
    before = cpu_seconds(pids)
    time.sleep(seconds)
    waiting = cpu_seconds(pids) - before
    for pid in pids:
        db.run("SELECT pg_cancel_backend(%s)", (pid,))
    for t in threads:
        t.join()
    for c in conns:
        c.conn.close()
    return {"waiters": IDLE_WAITERS, "seconds": seconds,
            "waiting_cpu_percent": 100.0 * waiting / seconds,
            "idle_connections_cpu_percent": 100.0 * idle / seconds}


def bench_live(db, res):
    """pgbench tracked ÷ untracked (updates, inserts) with fsync off and on, with and without
    shared_preload_libraries = 'delta_sync', each beside its same-columns floor; wake-up latency,
    the CPU of 100 idle waiters and the client's commit-to-replica latency, preloaded and not. Each configuration gets its own cluster."""
    out = {"clients": PGBENCH_CLIENTS, "seconds_per_run": LIVE_SECONDS, "configs": {}}
    for preloaded in (False, True):
        for fsync in (False, True):
            name = "%s, fsync %s" % ("preloaded" if preloaded else "not preloaded", "on" if fsync else "off")
            log("live: %s" % name)
            cluster = LiveCluster(fsync, preloaded)
            try:
                ldb = Db(cluster.dsn)
                with open(os.path.join(HERE, "schema.sql")) as f:
                    ldb.run(f.read())
                ldb.run("SELECT bench_pgbench_tables(%s)", (PGBENCH_ROWS,))
                ldb.run("SELECT bench_insert_tables()")
                ldb.run("VACUUM ANALYZE")
                r = live_tps(cluster, ldb)
                if not fsync:
                    r["wakeup"] = live_wakeups(cluster, ldb)
                    r["idle"] = live_idle_cpu(cluster, ldb)
                    r["client"] = live_client_latency(cluster, ldb)
                out["configs"][name] = r
                log("live %s: updates %.2f (floor %.2f, NOTIFY on %.2f), inserts %.2f (floor %.2f)%s" % (
                    name, r["updates"]["tracked_vs_untracked"]["median"],
                    r["updates"]["samecols_vs_untracked"]["median"],
                    r["updates"]["notify_vs_untracked"]["median"],
                    r["inserts"]["tracked_vs_untracked"]["median"],
                    r["inserts"]["samecols_vs_untracked"]["median"],
                    "; wake-up p50 %.1f ms p99 %.1f ms; 100 idle waiters %.2f%% CPU" % (
                        r["wakeup"]["p50_ms"], r["wakeup"]["p99_ms"],
                        r["idle"]["waiting_cpu_percent"]) if "wakeup" in r else ""))
                ldb.conn.close()
            finally:
                cluster.stop()
    res["live"] = out


STEPS = {"deletes": bench_deletes, "live": bench_live, "snapshot": bench_snapshot, "delta": bench_delta, "writes": bench_writes,
         "pgbench": bench_pgbench, "client": bench_client, "refuse": bench_refuse,
         "mcp": bench_mcp, "shapes": bench_shapes, "partitioned": bench_partitioned}


STEPS["empty"] = bench_empty


def main():
    out_path = sys.argv[1]
    steps = os.environ.get("BENCH_STEPS",
                           "snapshot,delta,shapes,partitioned,client,mcp,refuse,writes,deletes,"
                           "pgbench,live").split(",")
    db = Db()
    res = {"machine": machine(db), "runs": RUNS, "sizes": SIZES, "page_size": PAGE_SIZE,
           "started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    if "BENCH_STEPS" not in os.environ and "delta" in steps:  # a full run: the empty delta after it
        steps.insert(steps.index("delta") + 1, "empty")
    t0 = time.perf_counter()
    if os.environ.get("BENCH_SKIP_SETUP") != "1":
        setup(db)
    res["setup_seconds"] = time.perf_counter() - t0
    for step in steps:
        t = time.perf_counter()
        STEPS[step](db, res)
        res.setdefault("step_seconds", {})[step] = time.perf_counter() - t
        with open(out_path, "w") as f:  # keep what is done if a later step fails
            json.dump(res, f, indent=1)
    res["seconds"] = time.perf_counter() - t0
    with open(out_path, "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
