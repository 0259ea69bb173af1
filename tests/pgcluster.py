"""Throwaway PostgreSQL clusters for the Python test scripts: primaries made by tests/cluster.sh,
standbys and restored base backups made with pg_basebackup, and the serverVersion cursor codec.

Every cluster lives in its own directory under $DELTA_SYNC_TEST_DIR (a private temporary directory
when unset), listens only on DIR/sock, and is stopped by stop_all(), which the scripts call from
`finally` (SIGTERM and SIGINT are turned into SystemExit so that `finally` runs on them too).
"""
import base64
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

import psycopg2

HERE = os.path.dirname(os.path.abspath(__file__))
PGBIN = os.environ.get("PGBIN", "/usr/lib/postgresql/15/bin")
_started = []
_own_scratch = None


def _as_owner(cmd):
    """Runs a server-side command as the postgres OS user when we are root (initdb and the server
    refuse to run as root)."""
    return ["runuser", "-u", "postgres", "--"] + cmd if os.getuid() == 0 else cmd


def _run(cmd, **kw):
    res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({res.returncode}):\n{res.stdout}")
    return res.stdout


def _exit_on_signal(signum, frame):
    raise SystemExit(128 + signum)


signal.signal(signal.SIGTERM, _exit_on_signal)


def scratch(name):
    """A fresh directory for one cluster; a leftover of an earlier run is stopped and removed."""
    global _own_scratch
    base = os.environ.get("DELTA_SYNC_TEST_DIR")
    if not base:
        if _own_scratch is None:
            _own_scratch = tempfile.mkdtemp(prefix="delta_sync_py.")
        base = _own_scratch
    path = os.path.join(os.path.abspath(base), name)
    if os.path.exists(path):
        Cluster(path, 0).stop()
        shutil.rmtree(path)
    return path


class Cluster:
    def __init__(self, path, port):
        self.path = path
        self.port = port
        self.sock = os.path.join(path, "sock")
        self.data = os.path.join(path, "data")

    def connect(self, dbname="postgres", autocommit=True):
        conn = psycopg2.connect(host=self.sock, port=self.port, user="postgres", dbname=dbname)
        conn.autocommit = autocommit
        return conn

    def query(self, sql, args=None, dbname="postgres"):
        """Runs one statement in its own autocommit connection; returns all rows (or None)."""
        conn = self.connect(dbname)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, args)
                return cur.fetchall() if cur.description else None
        finally:
            conn.close()

    def value(self, sql, args=None, dbname="postgres"):
        return self.query(sql, args, dbname)[0][0]

    def bin(self, tool, *args):
        """Runs a client program of the server's version against this cluster, as postgres."""
        return _run(_as_owner([os.path.join(PGBIN, tool), "-h", self.sock, "-p", str(self.port),
                               "-U", "postgres", *args]))

    def stop(self):
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            subprocess.run(_as_owner([os.path.join(PGBIN, "pg_ctl"), "-D", self.data, "-m", "fast",
                                      "-w", "-t", "60", "stop"]),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def configure(self, *lines):
        """Appends lines to postgresql.conf (later lines override earlier ones)."""
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("\n" + "\n".join(lines) + "\n")

    def start(self):
        self._start()

    def _start(self):
        _started.append(self)
        _run(_as_owner([os.path.join(PGBIN, "pg_ctl"), "-D", self.data, "-l",
                        os.path.join(self.path, "server.log"), "-w", "-t", "60", "start"]))

    def log_tail(self, lines=30):
        try:
            with open(os.path.join(self.path, "server.log")) as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""


def start_primary(name, port, *conf):
    """A new cluster from tests/cluster.sh (initdb, trust auth, wal_level=replica)."""
    c = Cluster(scratch(name), port)
    _started.append(c)
    _run(["bash", os.path.join(HERE, "cluster.sh"), "start", c.path, str(port), *conf])
    return c


def take_base_backup(source, name, port, *conf, standby=False):
    """pg_basebackup of `source` (plain format, WAL streamed, fast checkpoint) into a new cluster
    directory set up to run on `port`, not started: start it with start()."""
    c = Cluster(scratch(name), port)
    os.makedirs(c.sock, mode=0o700)
    if os.getuid() == 0:
        shutil.chown(c.path, "postgres", "postgres")
        shutil.chown(c.sock, "postgres", "postgres")
    source.bin("pg_basebackup", "-D", c.data, "-c", "fast", "-X", "stream",
               *(["-R"] if standby else []))
    c.configure(f"# {name}", f"port = {port}", f"unix_socket_directories = '{c.sock}'", *conf)
    return c


def from_base_backup(source, name, port, standby, *conf):
    """pg_basebackup of `source` (plain format, WAL streamed, fast checkpoint) started as its own
    server on `port`: a streaming hot standby when `standby`, otherwise a restored copy that
    recovers to the end of the backup and then runs as a primary of its own."""
    c = take_base_backup(source, name, port, *conf, standby=standby)
    c._start()
    return c


def stop_all():
    while _started:
        _started.pop().stop()
    if _own_scratch:
        shutil.rmtree(_own_scratch, ignore_errors=True)


def wait_for_replay(primary, standby, timeout=60):
    """Waits until the standby has replayed everything committed on the primary so far.

    The target is the primary's flush position right after a synchronously committed
    transaction: pg_current_wal_lsn() may lag an asynchronous commit still in the WAL buffers
    (the clusters run with synchronous_commit = off), and pg_current_wal_insert_lsn() points past
    the page header when the last record ends on a page boundary (as after the WAL switch that
    ends a base backup), which the standby reaches only with the next record."""
    conn = primary.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SET synchronous_commit = on")
            # A transaction that writes WAL (a transactional message, which nothing reads) and
            # commits synchronously: its commit flushes everything written before it.
            cur.execute("SELECT pg_logical_emit_message(true, 'delta_sync_test', 'replay')")
            cur.execute("SELECT pg_current_wal_flush_lsn()")
            target = cur.fetchone()[0]
    finally:
        conn.close()
    deadline = time.monotonic() + timeout
    while True:
        if standby.value("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,)):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"standby did not replay up to {target} in {timeout}s:\n"
                               + standby.log_tail())
        time.sleep(0.02)


# --- the serverVersion codec (src/extension/cursor.cpp), to read cursors and to forge them ------

def _crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def _varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def encode_cursor(system_id, xmin, xmax, xip=(), timeline=1, lsn=0):
    """A serverVersion. The default history point, timeline 1 at position 0, lies in the history
    of every server of a cluster; timeline=None writes the format of version 1.1 (no point)."""
    body = bytearray([1 if timeline is None else 2]) + struct.pack("<Q", system_id)
    if timeline is not None:
        body += _varint(timeline) + _varint(lsn)
    body += struct.pack("<Q", xmin) + _varint(xmax - xmin)
    body += _varint(len(xip))
    prev = xmin
    for x in sorted(xip):
        body += _varint(x - prev)
        prev = x
    body += struct.pack("<I", _crc32c(body))
    return base64.urlsafe_b64encode(bytes(body)).decode().rstrip("=")


def decode_cursor_full(text):
    """{system_id, timeline, lsn, xmin, xmax, xip} of a serverVersion (timeline None for one of
    version 1.1); raises ValueError when it is not one."""
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if len(raw) < 23 or raw[0] not in (1, 2) or \
            struct.unpack("<I", raw[-4:])[0] != _crc32c(raw[:-4]):
        raise ValueError("not a serverVersion")
    (system_id,) = struct.unpack("<Q", raw[1:9])
    pos = 9

    def varint():
        nonlocal pos
        v = shift = 0
        while True:
            b = raw[pos]
            pos += 1
            v |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return v

    timeline = lsn = None
    if raw[0] == 2:
        timeline = varint()
        lsn = varint()
    (xmin,) = struct.unpack("<Q", raw[pos:pos + 8])
    pos += 8
    xmax = xmin + varint()
    xip, prev = [], xmin
    for _ in range(varint()):
        prev += varint()
        xip.append(prev)
    return {"system_id": system_id, "timeline": timeline, "lsn": lsn, "xmin": xmin,
            "xmax": xmax, "xip": xip}


def decode_cursor(text):
    """(system_id, xmin, xmax, [xip]) of a serverVersion; raises ValueError when it is not one."""
    c = decode_cursor_full(text)
    return c["system_id"], c["xmin"], c["xmax"], c["xip"]


def reencode_cursor(text, **changes):
    """The cursor `text` with some fields replaced (timeline, lsn, xmin, ...), checksum renewed."""
    c = decode_cursor_full(text)
    c.update(changes)
    return encode_cursor(c["system_id"], c["xmin"], c["xmax"], c["xip"], c["timeline"], c["lsn"])


def lsn_text(lsn):
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def cursor_from_snapshot_text(system_id, snap):
    """The cursor a naive implementation would build from pg_current_snapshot()'s text."""
    xmin, xmax, xip = snap.split(":")
    return encode_cursor(system_id, int(xmin), int(xmax), [int(x) for x in xip.split(",") if x])


def fail(msg):
    print(f"FAILED: {msg}", file=sys.stderr)
    sys.exit(1)
