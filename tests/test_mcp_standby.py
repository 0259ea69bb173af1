#!/usr/bin/env python3
"""delta-sync mcp on a hot standby: a primary and a streaming standby (pg_basebackup -R); the MCP
TypeScript SDK client (tests/mcp/standby.mjs) subscribes on the standby, a commit on the primary
must reach it as notifications/resources/updated once replayed (the standby refuses LISTEN; the
server waits there with delta_sync.wait(), as on a primary), and the delta read on the standby
holds the commit."""
import os
import subprocess
import sys

sys.dont_write_bytecode = True
import pgcluster
from pgcluster import fail

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DB = "delta_sync_mcp_standby"
PRIMARY_PORT, STANDBY_PORT = 5474, 5475


def main():
    binary = os.environ.get("DELTA_SYNC_BIN", os.path.join(ROOT, "build", "delta-sync"))
    if not os.access(binary, os.X_OK):
        fail(f"{binary} not built")
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                   cwd=os.path.join(HERE, "mcp"), check=True, stdout=subprocess.DEVNULL)
    try:
        primary = pgcluster.start_primary("mcp_primary", PRIMARY_PORT)
        primary.query(f"CREATE DATABASE {DB}")
        primary.query("CREATE EXTENSION delta_sync", dbname=DB)
        primary.query("CREATE TABLE items (id integer PRIMARY KEY, v text)", dbname=DB)
        primary.query("INSERT INTO items VALUES (1, 'one'), (2, 'two'), (3, 'three')", dbname=DB)
        primary.query("SELECT delta_sync.track('items')", dbname=DB)
        standby = pgcluster.from_base_backup(primary, "mcp_standby", STANDBY_PORT, True)
        pgcluster.wait_for_replay(primary, standby)
        if not standby.value("SELECT pg_is_in_recovery()"):
            fail("the standby is not in recovery")
        env = dict(os.environ, PRIMARY_HOST=primary.sock, PRIMARY_PORT=str(PRIMARY_PORT),
                   STANDBY_HOST=standby.sock, STANDBY_PORT=str(STANDBY_PORT),
                   DELTA_SYNC_BIN=binary, DB=DB,
                   PATH=os.path.dirname(pgcluster.PGBIN + "/x") + ":" + os.environ.get("PATH", ""))
        rc = subprocess.run(["node", "--test", os.path.join(HERE, "mcp", "standby.mjs")],
                            env=env).returncode
        if rc != 0:
            fail("the MCP standby test failed")
        print("mcp standby: a commit on the primary reached the subscriber on the standby")
    finally:
        pgcluster.stop_all()


if __name__ == "__main__":
    main()
