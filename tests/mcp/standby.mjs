// delta-sync mcp on a hot standby (where LISTEN is refused): the feed waits with delta_sync.wait()
// there as on a primary, a commit on the primary reaches a subscriber through the standby's
// replay, and the delta read on the standby holds it.
// Run by tests/test_mcp_standby.py, which makes the primary and the standby:
//   PRIMARY_HOST, STANDBY_HOST (socket directories), PRIMARY_PORT, STANDBY_PORT, DELTA_SYNC_BIN, DB.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';

const { PRIMARY_HOST, PRIMARY_PORT, STANDBY_HOST, STANDBY_PORT, DELTA_SYNC_BIN, DB } = process.env;

function onPrimary(sql) {
  execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', PRIMARY_HOST, '-p', PRIMARY_PORT,
    '-U', 'postgres', '-d', DB, '-c', sql]);
}

function onStandby(sql) {
  return execFileSync('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-h', STANDBY_HOST, '-p',
    STANDBY_PORT, '-U', 'postgres', '-d', DB, '-c', sql], { encoding: 'utf8' }).trim();
}

function waitFor(predicate, what, ms = 15000) {
  return new Promise((resolve, reject) => {
    const start = Date.now();
    const tick = () => {
      if (predicate()) return resolve();
      if (Date.now() - start > ms) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 10);
    };
    tick();
  });
}

test('a subscriber on a standby hears of a commit on the primary once it is replayed', async () => {
  const client = new Client({ name: 'standby-test', version: '1' });
  const stderr = [];
  const transport = new StdioClientTransport({
    command: DELTA_SYNC_BIN,
    args: ['mcp', '--dsn', `host=${STANDBY_HOST} port=${STANDBY_PORT} user=postgres dbname=${DB}`],
    env: { ...process.env },
    stderr: 'pipe',
  });
  transport.stderr?.on('data', (d) => stderr.push(d.toString()));
  await client.connect(transport);
  try {
    const list = await client.listResources();
    assert.ok(list.resources.some((r) => r.uri === 'db://items/delta'));
    const snap = await client.readResource({ uri: 'db://items/delta' });
    const first = JSON.parse(snap.contents[0].text);
    assert.equal(first.created.length, 3);

    const updates = [];
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => updates.push(n.params.uri));
    await client.subscribeResource({ uri: 'db://items/delta' });
    await new Promise((r) => setTimeout(r, 300));
    await waitFor(() => onStandby(`SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
                                   AND query LIKE '%delta_sync.wait(%' AND pid <> pg_backend_pid()`) !== '0',
                  'the feed waiting in delta_sync.wait() on the standby');
    onPrimary("INSERT INTO items VALUES (4, 'four'); UPDATE items SET v = 'ONE' WHERE id = 1");
    await waitFor(() => updates.includes('db://items/delta'), 'the notification of the replayed commit');

    const delta = await client.readResource({ uri: `db://items/delta?since=${first.serverVersion}` });
    const d = JSON.parse(delta.contents[0].text);
    assert.deepEqual(d.created.map((r) => r.id), [4]);
    assert.deepEqual(d.updated.map((r) => [r.id, r.v]), [[1, 'ONE']]);
    assert.ok(!stderr.join('').includes('LISTEN'), stderr.join(''));
  } finally {
    await client.close();
  }
});
