#!/usr/bin/env python3
"""Restores and other clusters: cursors that cannot be answered are told so (docs/design.md §7).

(a) A plain pg_basebackup of a primary with a tracked table is started as a server of its own
    (no standby.signal; own port and socket). A cursor taken on the primary after the backup (its
    xmax is beyond what the restored server ever reached) gets fullResyncRequired there, while a
    cursor taken before the backup still gets an ordinary delta.
(b) A second, independent initdb cluster with the same extension and table: a cursor of one
    cluster gets fullResyncRequired on the other (system identifier), both ways.
(c) Garbage, truncated and altered cursors are refused with SQLSTATE 22023 on every server.
"""
import base64
import json
import struct
import sys

import psycopg2

sys.dont_write_bytecode = True  # no tests/__pycache__ from importing pgcluster

import pgcluster
from pgcluster import fail

DB = "delta_sync_restore"
PRIMARY_PORT, RESTORED_PORT, OTHER_PORT = 5472, 5473, 5474


def setup(cluster):
    cluster.query(f"CREATE DATABASE {DB}")
    conn = cluster.connect(DB)
    with conn.cursor() as cur:
        cur.execute("CREATE EXTENSION delta_sync")
        cur.execute("CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL)")
        cur.execute("INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 100) g")
        cur.execute("SELECT delta_sync.track('items')")
    conn.close()


def delta(cluster, since):
    rows = cluster.query("SELECT d::text FROM delta_since('items', %s) d", (since,), dbname=DB)
    assert len(rows) == 1
    return json.loads(rows[0][0])


def summary(doc):
    ids = {k: sorted(r["id"] for r in doc[k]) for k in ("created", "updated")}
    return f"created {ids['created']} updated {ids['updated']} deleted {doc['deleted']} " \
           f"resync {str(doc['fullResyncRequired']).lower()}"


def expect_resync(cluster, since, why):
    doc = delta(cluster, since)
    if not doc["fullResyncRequired"] or doc["created"] or doc["updated"] or doc["deleted"]:
        fail(f"{why}: expected fullResyncRequired with empty buckets, got {summary(doc)}")
    return doc


def snapshot_xmax(cluster):
    """The xmax of a fresh snapshot: no xid at or beyond it has committed here."""
    return int(cluster.value("SELECT pg_snapshot_xmax(pg_current_snapshot())::text"))


def restored_backup(primary):
    before = delta(primary, None)["serverVersion"]
    primary.query("INSERT INTO items VALUES (101, 'before the backup')", dbname=DB)
    backup = pgcluster.from_base_backup(primary, "restore_backup", RESTORED_PORT, False)
    # The backup runs now; what follows happens on the primary only.
    for i in range(102, 107):
        primary.query("INSERT INTO items VALUES (%s, 'after the backup')", (i,), dbname=DB)
    primary.query("UPDATE items SET name = 'changed after the backup' WHERE id = 1", dbname=DB)
    after = delta(primary, None)["serverVersion"]
    return backup, before, after


def check_restore(primary, backup, before, after):
    if backup.value("SELECT pg_is_in_recovery()"):
        fail("the restored backup is still in recovery: it should run as a server of its own")
    same_id = primary.value("SELECT system_identifier FROM pg_control_system()") == \
        backup.value("SELECT system_identifier FROM pg_control_system()")
    if not same_id:
        fail("a base backup should keep the system identifier; this check would prove nothing")
    _, _, after_xmax, _ = pgcluster.decode_cursor(after)
    restored_next = snapshot_xmax(backup)
    expect_resync(backup, after, f"a cursor taken after the backup (xmax {after_xmax}) used on the "
                                 f"restored server (snapshot xmax {restored_next})")
    doc = delta(backup, before)
    got = summary(doc)
    if got != "created [101] updated [] deleted [] resync false":
        fail(f"a cursor taken before the backup, on the restored server: {got}")
    # The same cursors still work on the primary.
    if delta(primary, after)["fullResyncRequired"] or delta(primary, before)["fullResyncRequired"]:
        fail("the primary refused its own cursors")
    print(f"restore: on the restored backup (same system identifier, snapshot xmax {restored_next}) a "
          f"cursor taken after the backup (xmax {after_xmax}) gets fullResyncRequired; one taken "
          f"before it gets: {got}")
    return restored_next, after_xmax


def note_diverged_restore(backup, after, restored_next, after_xmax):
    """Not asserted, reported: a backup started without recovery.signal stays on the timeline of
    its origin (crash recovery), so only positions and transaction ids tell the cursor apart; once
    the restored server has gone past both, nothing does (the README's known limit; a restore by
    PostgreSQL's procedure starts a new timeline: tests/test_history.py)."""
    conn = backup.connect(DB)
    with conn.cursor() as cur:
        for _ in range(after_xmax - restored_next + 1):
            cur.execute("SELECT pg_current_xact_id()")
    conn.close()
    doc = delta(backup, after)
    timeline = backup.value("SELECT timeline_id FROM pg_control_checkpoint()")
    print(f"restore (noted, not asserted): the backup started without recovery.signal runs on "
          f"timeline {timeline}; after {after_xmax - restored_next + 1} transactions on it the cursor "
          f"taken after the backup gets: {summary(doc)}")


def check_other_cluster(primary, other, primary_cursor):
    other_cursor = delta(other, None)["serverVersion"]
    expect_resync(other, primary_cursor, "a cursor from another cluster")
    expect_resync(primary, other_cursor, "a cursor from another cluster (the other way)")
    # The same snapshot under the other cluster's identifier is usable there: only the identifier
    # decided (and the cursor codec used below is faithful).
    _, xmin, xmax, xip = pgcluster.decode_cursor(primary_cursor)
    sid = int(other.value("SELECT system_identifier FROM pg_control_system()"))
    own = pgcluster.decode_cursor_full(other_cursor)
    forged = pgcluster.encode_cursor(sid, own["xmin"], own["xmax"], own["xip"], own["timeline"],
                                     own["lsn"])
    if forged != other_cursor:
        fail("the test's cursor codec does not reproduce the extension's cursors")
    print(f"other cluster: cursors of one cluster get fullResyncRequired on the other, both ways "
          f"(primary cursor {xmin}:{xmax}:{xip})")


def malformed(valid, sid):
    """Texts that are not cursors this cluster issued: garbage, truncations, alterations."""
    cases = {
        "empty": "", "word": "garbage", "spaces": "    ", "padding": valid + "==",
        "punctuation": "!!!!", "one character": "A", "non-ascii": "é" * 12,
        "percent-encoded": valid[:5] + "%2F" + valid[8:], "standard base64": valid.replace("-", "+"),
        "control characters": "\x01\x02\x03", "huge": "A" * (1 << 21), "json": '{"xmin":1}',
        "snapshot text": "100:200:150", "appended": valid + "A", "doubled": valid + valid,
        "truncated by 1": valid[:-1], "truncated by 4": valid[:-4], "half": valid[: len(valid) // 2],
        "format 3": _reformat(valid, 3),
        "xip at xmax": pgcluster.encode_cursor(sid, 100, 200, [200]),
        "xip twice": pgcluster.encode_cursor(sid, 100, 200, [150, 150]),
    }
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for pos in range(len(valid)):  # every single-character alteration at every position
        ch = valid[pos]
        repl = alphabet[(alphabet.index(ch) + 1 + pos) % 64]
        cases[f"altered at {pos}"] = valid[:pos] + repl + valid[pos + 1:]
    for pos in range(0, len(valid) - 1, 3):
        cases[f"swapped at {pos}"] = valid[:pos] + valid[pos + 1] + valid[pos] + valid[pos + 2:]
    return {k: v for k, v in cases.items() if v != valid}


def _reformat(valid, version):
    """The cursor with another format byte and a checksum that matches it."""
    raw = bytearray(base64.urlsafe_b64decode(valid + "=" * (-len(valid) % 4)))
    raw[0] = version
    body = bytes(raw[:-4])
    raw[-4:] = struct.pack("<I", pgcluster._crc32c(body))
    return base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")


def check_malformed(clusters, valid, sid):
    cases = malformed(valid, sid)
    for name, cluster in clusters:
        conn = cluster.connect(DB)
        for case, text in cases.items():
            try:
                with conn.cursor() as cur:
                    cur.execute("SELECT d::text FROM delta_since('items', %s) d", (text,))
                    cur.fetchall()
            except psycopg2.Error as e:
                if e.pgcode != "22023":
                    fail(f"{name}: cursor '{case}' raised {e.pgcode} ({e.pgerror.strip()}), "
                         f"not 22023")
                continue
            fail(f"{name}: cursor '{case}' ({text[:60]!r}) was accepted")
        conn.close()
    print(f"malformed: {len(cases)} garbage, truncated and altered cursors each refused with 22023 "
          f"on {len(clusters)} servers")
    return len(cases) * len(clusters)


def main():
    try:
        primary = pgcluster.start_primary("restore_primary", PRIMARY_PORT)
        setup(primary)
        backup, before, after = restored_backup(primary)
        restored_next, after_xmax = check_restore(primary, backup, before, after)

        other = pgcluster.start_primary("restore_other", OTHER_PORT)
        setup(other)
        check_other_cluster(primary, other, after)

        sid = int(primary.value("SELECT system_identifier FROM pg_control_system()"))
        check_malformed([("primary", primary), ("restored backup", backup), ("other cluster", other)],
                        delta(primary, None)["serverVersion"], sid)
        note_diverged_restore(backup, after, restored_next, after_xmax)
    finally:
        pgcluster.stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
