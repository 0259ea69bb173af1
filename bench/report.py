#!/usr/bin/python3
"""Turns bench.py's JSON into the table (stdout), bench/results.md and bench/scaling.png (gnuplot).

    report.py RESULTS.json OUT_DIR

results.md = the generated figures + bench/analysis.md (the profiles and findings, written by hand
from the runs they cite).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def fmt(x, digits=2):
    if x >= 100:
        return "%.0f" % x
    if x >= 0.1 or digits > 2:
        return ("%." + str(digits) + "f") % x
    return "%.4f" % x


def fig(s, digits=2):
    return "%s (%s–%s)" % (fmt(s["median"], digits), fmt(s["min"], digits), fmt(s["max"], digits))


def ms(s):
    if s["median"] >= 1:
        return "%.2f s (%.2f–%.2f)" % (s["median"], s["min"], s["max"])
    return "%.3g ms (%.3g–%.3g)" % (s["median"] * 1e3, s["min"] * 1e3, s["max"] * 1e3)


def tps(p, k):
    t = p["tps"][k]
    return "%.0f TPS (%.0f–%.0f)" % (t["median"], t["min"], t["max"])


def rows_of(res):
    """(measure, target text, figure text, met) for every row of the issue's table."""
    big, small = max(res["sizes"]), min(res["sizes"])
    n = lambda x: "10^%d" % (len(str(x)) - 1)
    out = []

    def add(measure, target, s, ok_if, digits=2, unit=""):
        if s is None:
            out.append((measure, target, "not measured", None))
            return
        met = (None if target == "—" else
               s["median"] <= ok_if if target.startswith("≤") else s["median"] >= ok_if)
        out.append((measure, target, fig(s, digits) + unit, met))

    d = res.get("delta")
    add("`delta_since` of 100 changes on %s rows ÷ the same on %s rows" % (n(big), n(small)), "≤ 1.2",
        d and d["big_vs_small"], 1.2)
    add("`delta_since` of 100 changes ÷ the seed's three queries on the same changes (%s rows)" % n(big),
        "≤ 0.4", d and d["vs_seed"][str(big)], 0.4)
    sh = res.get("shapes")
    add("a shaped `delta_since` (`filter => '%s'`) of 100 changes on %s rows ÷ the unfiltered delta "
        "of the same changes, the filter's column indexed" % (sh["filter"] if sh else "stock < 100", n(big)),
        "≤ 1.2", sh and sh["indexed"]["filtered_vs_unfiltered"], 1.2)
    add("  the same, the filter's column not indexed", "—",
        sh and sh["not_indexed"]["filtered_vs_unfiltered"], 0)
    e = res.get("empty")
    msec = lambda x: {k: v * 1e3 for k, v in x.items() if k != "samples"}
    add("an empty delta (nothing changed), %s rows, through a prepared statement that calls it "
        "1,000 times: ms per call" % n(big), "≤ 0.05", e and msec(e["seconds"]["in_server"]), 0.05,
        digits=4, unit=" ms")
    if e:  # no targets: with the client's round trip, which the figure above leaves out
        out.append(("  one call per execution of a prepared statement, with the client's round "
                    "trip: ms per call", "—", fig(msec(e["seconds"]["empty"]), 4) + " ms", None))
        out.append(("  the same ÷ a prepared `SELECT 1` over the same connection", "—",
                    fig(e["vs_select_1"]), None))
    r = res.get("refuse")
    add("refusing a %s-change delta at `max_changes` 1000 ÷ one sequential scan of the table"
        % ("{:,}".format(r["changes"]) if r else "300,000"), "≤ 0.05", r and r["vs_seq_scan"], 0.05)
    s = res.get("snapshot", {}).get(str(big))
    add("full snapshot of %s rows as JSON (one document) ÷ `COPY … TO '/dev/null'` of the same rows"
        % n(big), "≤ 2.0", s and s["vs_copy"], 2.0)
    add("  the same, paged (`page_size => %d`, as the client pulls) ÷ `COPY`" % res["page_size"],
        "≤ 0.6", s and s["paged_vs_copy"], 0.6)
    add("the same (one document) ÷ `json_agg` of the same rows", "≤ 0.5", s and s["vs_json_agg"], 0.5)
    add("  the same, paged ÷ `json_agg`", "≤ 0.5", s and s["paged_vs_json_agg"], 0.5)
    w = res.get("writes")
    add("bulk `UPDATE` of every row of a tracked table ÷ the same with `moddatetime` (%s rows)"
        % (n(w["rows"]) if w else "?"), "≤ 1.3", w and w["vs_moddatetime"], 1.3)
    add("the same ÷ the same with no trigger but the same columns and index written", "≤ 1.1",
        w and w["vs_none"], 1.1)
    pt = res.get("partitioned")
    add("`delta_since` of 100 changes on a partitioned table (%s rows, 8 partitions) ÷ the same unpartitioned"
        % (n(pt["rows"]) if pt else "?"), "—", pt and pt["partitioned_vs_flat"], 0)
    dl = res.get("deletes")
    add("bulk `DELETE` of %s rows in hard-delete mode (row removed, tombstone written) ÷ untracked"
        % (n(dl["bulk_rows"]) if dl else "?"), "—", dl and dl["bulk_hard_vs_untracked"], 0)
    add("single-row `DELETE` (one transaction each) in hard-delete mode ÷ untracked", "—",
        dl and dl["single_hard_vs_untracked"], 0)
    p = res.get("pgbench")
    add("single-row updates from 8 pgbench clients, tracked ÷ untracked TPS", "≥ 0.80",
        p and p["tracked_vs_untracked"], 0.80)
    add("  the same with NOTIFY on (`delta_sync.set_notify`, not preloaded)", "—",
        p and p["notify_vs_untracked"], 0)
    lv = res.get("live")
    for name, r in sorted((lv or {}).get("configs", {}).items()):
        add("pgbench updates, tracked ÷ untracked TPS (%s)" % name, "≥ 0.80",
            r["updates"]["tracked_vs_untracked"], 0.80)
        add("  floor: same columns and index, no trigger ÷ untracked (%s)" % name, "—",
            r["updates"]["samecols_vs_untracked"], 0)
        add("  with NOTIFY on (`delta_sync.set_notify`) ÷ untracked (%s)" % name, "—",
            r["updates"].get("notify_vs_untracked"), 0)
        add("pgbench inserts, tracked ÷ untracked TPS (%s)" % name, "≥ 0.85",
            r["inserts"]["tracked_vs_untracked"], 0.85)
        add("  floor: same columns and index, no trigger ÷ untracked (%s)" % name, "—",
            r["inserts"]["samecols_vs_untracked"], 0)
    c = res.get("client", {})
    if "not_measured" in c:
        out.append(("first sync of %s rows into the SQLite replica ÷ `COPY` of the table to a file "
                    "over the socket" % n(big), "≤ 2.0", "not measured: " + c["not_measured"], None))
        out.append(("peak RSS of the client during that first sync", "≤ 64 MB",
                    "not measured: " + c["not_measured"], None))
    else:
        add("first sync of %s rows into the SQLite replica ÷ `COPY` of the table to a file over the "
            "socket" % n(big), "≤ 2.0", c.get("vs_copy"), 2.0)
        add("peak RSS of the client during that first sync", "≤ 64 MB", c.get("peak_rss_mib"), 64,
            digits=1, unit=" MiB")
    m = res.get("mcp", {})
    if "not_measured" in m:
        for what in ("`delta-sync mcp`: read of a 3-change delta ÷ full read, 10,000 rows",):
            out.append((what, "", "not measured: " + m["not_measured"], None))
    elif m:
        add("`delta-sync mcp`: bytes of a 3-change delta read ÷ a full read (10,000 rows)", "≤ 0.01",
            m["delta_vs_full_bytes"], 0.01, digits=5)
        add("  time of that delta read ÷ the full read", "≤ 0.2", m["delta_vs_full_time"], 0.2)
        add("`delta-sync mcp`: commit → `notifications/resources/updated` (NOTIFY off: "
            "`delta_sync.wait()`)", "≤ 100 ms", m["notification_latency_ms"], 100, digits=1,
            unit=" ms")
        add("  the same with NOTIFY on (the feed waits with `delta_sync.wait()` either way)",
            "≤ 100 ms", m["notification_latency_notify_on_ms"], 100, digits=1, unit=" ms")
        add("`delta-sync mcp`: peak RSS serving a %s-row snapshot" % n(big), "≤ 64 MB",
            m["peak_rss_mib"], 64, digits=1, unit=" MiB")
    return out


def verdict(met):
    return "—" if met is None else ("met" if met else "**not met**")


def context_lines(res):
    """Absolute times behind the ratios (context only: they move with the machine's load)."""
    L = []
    snap = res.get("snapshot")
    if snap:
        L += ["### Full snapshot, every live row (seconds per call)", "",
              "| rows | document | `delta_since` | paged | `COPY` to /dev/null | `to_json` per row | "
              "`json_agg` | one doc ÷ COPY | paged ÷ COPY | to_json ÷ COPY | json_agg ÷ COPY |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
        for n in res["sizes"]:
            s = snap[str(n)]
            sec = s["seconds"]
            L.append("| %d | %.1f MB | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                n, s["document_bytes"] / 1e6, ms(sec["delta_since"]), ms(sec["delta_since_paged"]),
                ms(sec["copy"]), ms(sec["to_json"]), ms(sec["json_agg"]), fig(s["vs_copy"]),
                fig(s["paged_vs_copy"]), fig(s["to_json_vs_copy"]), fig(s["json_agg_vs_copy"])))
        L.append("")
    d = res.get("delta")
    if d:
        L += ["### Delta of 100 changed rows (one call; mean of %d calls per run)" % d["repeat"], "",
              "| rows | `delta_since` | seed's three queries | ÷ seed |", "|---|---|---|---|"]
        for n in res["sizes"]:
            L.append("| %d | %s | %s | %s |" % (n, ms(d["seconds"]["delta_%d" % n]),
                                               ms(d["seconds"]["seed_%d" % n]), fig(d["vs_seed"][str(n)])))
        L.append("")
    r = res.get("refuse")
    if r:
        L += ["### Refusing a %s-change delta" % "{:,}".format(r["changes"]), "",
              "- `delta_since(t, cursor, max_changes => 1000)`: %s" % ms(r["seconds"]["refuse"]),
              "- `SELECT count(*) FROM t` (the planner's default plan, below): %s" % ms(r["seconds"]["seq_scan"]),
              "- the same count with index scans disabled (the plan below it): %s; refusing ÷ that: %s" % (
                  ms(r["seconds"]["forced_seq_scan"]), fig(r["vs_forced_seq_scan"])),
              "- the seed's endpoint refusing the same delta: %s, i.e. %s × the scan" % (
                  ms(r["seconds"]["seed_refuse"]), fig(r["seed_vs_seq_scan"])),
              "", "```", *r["seq_scan_plan"], "", *r["forced_seq_scan_plan"], "```", ""]
    w = res.get("writes")
    if w:
        sec = w["seconds"]
        L += ["### Bulk `UPDATE` of all %d rows (seconds per statement)" % w["rows"], "",
              "| tracked (delta_sync) | moddatetime | PL/pgSQL trigger | no trigger, same columns written |",
              "|---|---|---|---|",
              "| %s | %s | %s | %s |" % (ms(sec["tracked"]), ms(sec["moddatetime"]), ms(sec["plpgsql"]),
                                        ms(sec["none"])), "",
              "Ratios: tracked ÷ PL/pgSQL %s; moddatetime ÷ no trigger %s (the floor for any "
              "row trigger: moddatetime does nothing but set one column)." % (
                  fig(w["vs_plpgsql"]), fig(w["moddatetime_vs_none"])), ""]
    p = res.get("pgbench")
    if p:
        L += ["### pgbench, %d clients, %d s per run, %d rows" % (p["clients"], p["seconds_per_run"], p["rows"]),
              "", "- tracked: " + tps(p, "tracked"), "- untracked: " + tps(p, "untracked"),
              "- tracked with NOTIFY on (`delta_sync.set_notify(tbl, true)`, sent by the writers): %s; ÷ untracked %s" % (
                  tps(p, "tracked_notify"), fig(p["notify_vs_untracked"])),
              "- the tracked table's columns and index, no trigger, written by the statement: %s; "
              "÷ untracked %s (the floor of versioning every write through an index); the tracked table "
              "÷ this: %s" % (
                  tps(p, "samecols"), fig(p["samecols_vs_untracked"]), fig(p["tracked_vs_samecols"])),
              "- what the tracked run's backends were doing (pg_stat_activity sampled every 10 ms "
              "during an extra run): " + ", ".join("%s %.0f%%" % (k, v * 100) for k, v in p["tracked_wait_events"]),
              ""]
    lv = res.get("live")
    if lv:
        L += ["### Live changes: pgbench by configuration, %d clients, %d s per run" % (
            lv["clients"], lv["seconds_per_run"]), ""]
        for name, r in sorted(lv["configs"].items()):
            for op in ("updates", "inserts"):
                o = r[op]
                L.append("- %s, %s: tracked %s, untracked %s, same columns no trigger %s" % (
                    name, op, tps(o, "tracked"), tps(o, "untracked"), tps(o, "samecols")))
            if "wakeup" in r:
                w, i = r["wakeup"], r["idle"]
                L.append("- %s: `delta_sync.wait()` commit-to-wake latency p50 %.1f ms, p99 %.1f ms "
                         "(%d wake-ups); %d idle waiters use %.2f %% of one core (%d idle connections: "
                         "%.2f %%)" % (name, w["p50_ms"], w["p99_ms"], w["samples"], i["waiters"],
                                       i["waiting_cpu_percent"], i["waiters"],
                                       i["idle_connections_cpu_percent"]))
            cl = r.get("client", {})
            if "p50_ms" in cl:
                L.append("- %s: `delta-sync pull --watch` commit-to-replica latency p50 %.1f ms, "
                         "p99 %.1f ms (%d commits)" % (name, cl["p50_ms"], cl["p99_ms"], cl["samples"]))
        L.append("")
    c = res.get("client", {})
    if c and "not_measured" not in c:
        L += ["### Client first sync", "",
              "- `delta-sync pull`: %s; replica rows: %s" % (ms(c["seconds"]["pull"]), c["rows_in_replica"]),
              "- `psql \\copy … TO file`: %s (psql peak RSS %s MiB)" % (
                  ms(c["seconds"]["copy"]), fig(c["psql_peak_rss_mib"], 1)), ""]
    return L


def plot(res, out_dir):
    """scaling.png: full snapshot and 100-change delta time against table size, log-log."""
    if not shutil.which("gnuplot") or "snapshot" not in res or "delta" not in res:
        return None
    tmp = tempfile.mkdtemp()
    data = os.path.join(tmp, "scaling.dat")
    with open(data, "w") as f:
        f.write("# rows delta_since paged copy to_json json_agg delta100 seed100 (milliseconds)\n")
        for n in res["sizes"]:
            s = res["snapshot"][str(n)]["seconds"]
            d = res["delta"]["seconds"]
            f.write("%d %g %g %g %g %g %g %g\n" % (
                n, *(s[k]["median"] * 1e3 for k in ("delta_since", "delta_since_paged", "copy", "to_json",
                                                    "json_agg")),
                d["delta_%d" % n]["median"] * 1e3, d["seed_%d" % n]["median"] * 1e3))
    png = os.path.join(out_dir, "scaling.png")
    script = """
set terminal pngcairo noenhanced size 1200,520 font ",10"
set output '{png}'
set multiplot layout 1,2 title "delta_sync scaling ({cpu}, {nproc} cores; medians of {runs} runs)"
set logscale xy
set grid
set key top left
set xlabel "rows in the table"
set ylabel "milliseconds per call"
set xrange [{lo}:{hi}]
set xtics ({xtics})
set title "Full snapshot of every row"
plot '{data}' using 1:2 with linespoints lw 2 title "delta_since (one document)", \\
     '' using 1:3 with linespoints lw 2 title "delta_since (page_size {page})", \\
     '' using 1:4 with linespoints title "COPY ... TO '/dev/null'", \\
     '' using 1:5 with linespoints title "to_json(row) per row", \\
     '' using 1:6 with linespoints title "json_agg"
set title "Delta of 100 changed rows"
plot '{data}' using 1:7 with linespoints lw 2 title "delta_since", \\
     '' using 1:8 with linespoints title "seed's three queries"
unset multiplot
""".format(png=png, data=data, cpu=res["machine"]["cpu"], nproc=res["machine"]["nproc"],
           runs=res["runs"], page=res["page_size"], lo=min(res["sizes"]) / 2, hi=max(res["sizes"]) * 2,
           xtics=", ".join('"10^%d" %d' % (len(str(n)) - 1, n) for n in res["sizes"]))
    subprocess.run(["gnuplot"], input=script, text=True, check=True)
    shutil.rmtree(tmp)
    return png


def main():
    res = json.load(open(sys.argv[1]))
    out_dir = sys.argv[2]
    rows = rows_of(res)
    width = max(len(r[0]) for r in rows)
    print("\n%-*s  %-8s  %-26s  %s" % (width, "measure", "target", "median (min–max)", "verdict"))
    for m, t, f, met in rows:
        print("%-*s  %-8s  %-26s  %s" % (width, m.replace("`", ""), t, f, verdict(met).replace("*", "")))

    png = plot(res, out_dir)
    m = res["machine"]
    started = os.environ.get("BENCH_STARTED")
    if started and "make_bench_seconds" not in res:
        res["make_bench_seconds"] = time.time() - int(started)
    wall = int(res.get("make_bench_seconds", res.get("seconds", 0)))
    L = ["# delta_sync benchmarks", "",
         "Written by `make bench` (bench/run.sh → bench.py → report.py); do not edit by hand: the "
         "analysis at the end comes from bench/analysis.md.", "",
         "Every figure is a ratio of two things measured in the same run on the same data: each run "
         "times the subject and its baseline back to back, in an order that alternates from run to "
         "run; the figure is the **median of %d runs, with (min–max)** beside it. "
         "Timed statements reduce their output to a number inside the server (bench/queries.sql), "
         "so no figure includes shipping JSON to the benchmark's client." % res["runs"], "",
         "## Machine", "",
         "- nproc: %s; CPU: %s; memory: %s GiB; kernel %s" % (m["nproc"], m["cpu"], m["memory_gib"], m["kernel"]),
         "- %s" % m["postgresql"],
         "- load average when the run started: %s (a shared machine: other work ran alongside)"
         % " ".join(m["loadavg_at_start"]),
         "- cluster: bench/run.sh's throwaway cluster (tests/cluster.sh: fsync off, "
         "synchronous_commit off) with shared_buffers 1GB, autovacuum off, jit off",
         "- run started %s; `make bench` wall time: **%d min %02d s** (setup %.0f s; %s)" % (
             res["started"], wall // 60, wall % 60, res["setup_seconds"],
             ", ".join("%s %.0f s" % (k, v) for k, v in res.get("step_seconds", {}).items())), "",
         "## The issue's table", "",
         "| measure | target | median (min–max) | |", "|---|---|---|---|"]
    for mname, t, f, met in rows:
        L.append("| %s | %s | %s | %s |" % (mname.replace("  ", "↳ "), t, f, verdict(met)))
    L += ["", "## Figures behind the ratios", ""] + context_lines(res)
    if png:
        L += ["## Scaling", "", "![scaling](scaling.png)", ""]
    analysis = os.path.join(HERE, "analysis.md")
    if os.path.exists(analysis):
        L += [open(analysis).read().rstrip(), ""]
    with open(os.path.join(out_dir, "results.md"), "w") as f:
        f.write("\n".join(L))
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump(res, f, indent=1)
    print("\nwrote %s/results.md%s (make bench: %d min %02d s)" % (
        out_dir, " and scaling.png" if png else "", wall // 60, wall % 60))


if __name__ == "__main__":
    main()
