// delta-sync mcp driven by the official MCP TypeScript SDK client, over stdio and over
// Streamable HTTP, against the cluster of `make test` (libpq's PG* variables).
// Run by tests/test_mcp.sh: node --test tests/mcp/
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  EmptyResultSchema,
  ResourceListChangedNotificationSchema,
  ResourceUpdatedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';

const BIN = process.env.DELTA_SYNC_BIN;
const DB = 'delta_sync_mcp_test';
const BIG_ROWS = 100000;
assert.ok(BIN, 'DELTA_SYNC_BIN must name the delta-sync program');

function psql(sql, db = DB, user = undefined) {
  const args = ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-At', '-d', db, '-c', sql];
  if (user) args.push('-U', user);
  return execFileSync('psql', args, { encoding: 'utf8' }).trim();
}

const dsn = (db = DB, user = 'postgres') => `dbname=${db} user=${user}`;

// Starts `delta-sync mcp` and connects an SDK client to it over `transport` ('stdio' | 'http').
async function connect(transport, args = [], { token, env = {}, onStderr } = {}) {
  const client = new Client({ name: 'delta-sync-tests', version: '1.0.0' });
  if (transport === 'stdio') {
    const t = new StdioClientTransport({
      command: BIN,
      args: ['mcp', ...args],
      env: { ...process.env, PGDATABASE: DB, ...env },
      stderr: 'pipe',
      // One read is one JSON-RPC message: a 100,000-row snapshot is ~16 MB, over the SDK's
      // default stdio limit of 10 MB.
      maxBufferSize: 256 * 1024 * 1024,
    });
    const stderr = [];
    t.stderr?.on('data', (d) => { stderr.push(d.toString()); onStderr?.(d.toString()); });
    await client.connect(t);
    return { client, stderr, close: () => client.close() };
  }
  const server = await startHttp(args, { ...env, ...(token ? { DELTA_SYNC_MCP_TOKEN: token } : {}) });
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  const t = new StreamableHTTPClientTransport(new URL(server.url), { requestInit: { headers } });
  await client.connect(t);
  return {
    client, server, stderr: server.stderr,
    close: async () => { await t.terminateSession().catch(() => {}); await client.close(); await server.stop(); },
  };
}

// `delta-sync mcp --http 127.0.0.1:0`; resolves with its URL once it listens.
function startHttp(args = [], env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, ['mcp', '--http', '127.0.0.1:0', ...args], {
      env: { ...process.env, PGDATABASE: DB, ...env }, stdio: ['ignore', 'ignore', 'pipe'],
    });
    const stderr = [];
    let done = false;
    child.stderr.on('data', (d) => {
      stderr.push(d.toString());
      const m = stderr.join('').match(/listening on (http:\/\/\S+\/mcp)/);
      if (m && !done) {
        done = true;
        resolve({
          url: m[1], child, stderr,
          stop: () => new Promise((res) => {
            if (child.exitCode !== null) return res(child.exitCode);
            child.once('exit', (code) => res(code));
            child.kill('SIGTERM');
          }),
        });
      }
    });
    child.once('exit', (code) => { if (!done) reject(new Error(`server exited ${code}: ${stderr.join('')}`)); });
  });
}

function docs(result) {
  return result.contents.map((c) => {
    assert.equal(c.mimeType, 'application/json');
    return JSON.parse(c.text);
  });
}

async function readAll(client, uri) {
  const result = await client.readResource({ uri });
  const pages = docs(result);
  assert.equal(result._meta?.deltaSync?.complete, true, 'the read says it is complete');
  assert.equal(result._meta.deltaSync.contents, pages.length);
  const versions = new Set(pages.map((d) => d.serverVersion));
  assert.equal(versions.size, 1, 'every page carries the same serverVersion');
  return {
    pages, serverVersion: pages[0].serverVersion,
    created: pages.flatMap((d) => d.created), updated: pages.flatMap((d) => d.updated),
    deleted: pages.flatMap((d) => d.deleted), fullResyncRequired: pages.some((d) => d.fullResyncRequired),
  };
}

async function expectError(promise, code, pattern) {
  await assert.rejects(promise, (e) => {
    assert.equal(e.code, code, `error code of: ${e.message}`);
    if (pattern) assert.match(e.message, pattern);
    return true;
  });
}

function waitFor(predicate, what, ms = 10000) {
  return new Promise((resolve, reject) => {
    const start = Date.now();
    const tick = () => {
      const v = predicate();
      if (v) return resolve(v);
      if (Date.now() - start > ms) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 20);
    };
    tick();
  });
}

before(() => {
  psql(`DROP DATABASE IF EXISTS ${DB}`, 'postgres');
  psql(`DROP DATABASE IF EXISTS ${DB}_late`, 'postgres');
  psql(`CREATE DATABASE ${DB}`, 'postgres');
  psql(`DO $$ BEGIN
          IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'mcp_reader') THEN CREATE ROLE mcp_reader LOGIN; END IF;
        END $$`, 'postgres');
  psql(`CREATE EXTENSION delta_sync;
        CREATE TABLE products (id integer PRIMARY KEY, name text, price numeric);
        COMMENT ON TABLE products IS 'The shop''s catalog';
        INSERT INTO products SELECT g, 'product ' || g, g FROM generate_series(1, 20) g;
        SELECT delta_sync.track('products');
        CREATE SCHEMA sales;
        CREATE TABLE sales.orders (id integer PRIMARY KEY, total integer);
        SELECT delta_sync.track('sales.orders');
        CREATE TABLE big (id integer PRIMARY KEY, payload text);
        INSERT INTO big SELECT g, 'row ' || g FROM generate_series(1, ${BIG_ROWS}) g;
        SELECT delta_sync.track('big');
        CREATE TABLE quiet (id integer PRIMARY KEY, v text);
        SELECT delta_sync.track('quiet');
        SELECT delta_sync.set_notify('quiet', false);
        CREATE TABLE "Odd name.v2" (id integer PRIMARY KEY);
        INSERT INTO "Odd name.v2" VALUES (7);
        SELECT delta_sync.track('"Odd name.v2"');
        CREATE TABLE untracked (id integer PRIMARY KEY);
        CREATE TABLE secure (id integer PRIMARY KEY, visible boolean NOT NULL);
        INSERT INTO secure SELECT g, g % 2 = 0 FROM generate_series(1, 10) g;
        SELECT delta_sync.track('secure');
        ALTER TABLE secure ENABLE ROW LEVEL SECURITY;
        CREATE POLICY only_visible ON secure FOR SELECT USING (visible);
        GRANT SELECT ON products, secure TO mcp_reader;`);
});

for (const transport of ['stdio', 'http']) {
  describe(`over ${transport}`, () => {
    let conn;
    before(async () => { conn = await connect(transport, ['--list-page-size', '3']); });
    after(async () => { await conn.close(); });

    test('initialize: server info and capabilities', () => {
      assert.equal(conn.client.getServerVersion().name, 'delta-sync');
      assert.match(conn.client.getInstructions(), /serverVersion/);
      const caps = conn.client.getServerCapabilities();
      assert.deepEqual(caps.resources, { subscribe: true, listChanged: true });
    });

    test('resources/list: every tracked table, paginated, with its comment', async () => {
      const all = [];
      let cursor;
      let pages = 0;
      do {
        const r = await conn.client.listResources(cursor ? { cursor } : {});
        all.push(...r.resources);
        cursor = r.nextCursor;
        pages++;
      } while (cursor);
      assert.ok(pages > 1, 'a list longer than a page has a nextCursor');
      const uris = all.map((r) => r.uri);
      for (const t of ['products', 'sales.orders', 'big', 'quiet', 'secure']) {
        assert.ok(uris.includes(`db://${t}/delta`), `db://${t}/delta listed`);
        assert.ok(uris.includes(`db://${t}/schema`), `db://${t}/schema listed`);
      }
      assert.ok(!uris.some((u) => u.includes('untracked')), 'an untracked table is not listed');
      const products = all.find((r) => r.uri === 'db://products/delta');
      assert.equal(products.description, "The shop's catalog");
      assert.equal(products.mimeType, 'application/json');
      assert.ok(products.name && products.title);
    });

    test('a name that needs it is percent-encoded, and reads back', async () => {
      const uri = 'db://Odd%20name%2Ev2/delta';
      const r = await conn.client.listResources();
      const all = [...r.resources];
      for (let c = r.nextCursor; c;) {
        const next = await conn.client.listResources({ cursor: c });
        all.push(...next.resources);
        c = next.nextCursor;
      }
      assert.ok(all.some((x) => x.uri === uri), 'listed as ' + uri);
      const snap = await readAll(conn.client, uri);
      assert.deepEqual(snap.created.map((x) => x.id), [7]);
    });

    test('resources/templates/list: db://<table>/delta{?since}', async () => {
      const t = [];
      let cursor;
      do {
        const r = await conn.client.listResourceTemplates(cursor ? { cursor } : {});
        t.push(...r.resourceTemplates.map((x) => x.uriTemplate));
        cursor = r.nextCursor;
      } while (cursor);
      assert.ok(t.includes('db://products/delta{?since}'));
      assert.ok(t.includes('db://sales.orders/delta{?since}'));
    });

    test('db://<table>/schema: columns, types, primary key', async () => {
      const r = await conn.client.readResource({ uri: 'db://products/schema' });
      const s = JSON.parse(r.contents[0].text);
      assert.deepEqual(s.primaryKey, ['id']);
      assert.equal(s.comment, "The shop's catalog");
      const price = s.columns.find((c) => c.name === 'price');
      assert.equal(price.type, 'numeric');
      assert.ok(!s.columns.some((c) => c.name.startsWith('delta_sync_')), 'no internal columns');
    });

    test('a composite primary key: the schema lists its key columns, deltas its keys', async () => {
      const table = `lines_${transport}`;
      psql(`CREATE TABLE ${table} (qty integer, line text, order_id integer,
                                   PRIMARY KEY (line, order_id) INCLUDE (qty));
            INSERT INTO ${table} VALUES (1, 'a,b', 17), (2, 'c', 18);
            SELECT delta_sync.track('${table}');`);
      const r = await conn.client.readResource({ uri: `db://${table}/schema` });
      assert.deepEqual(JSON.parse(r.contents[0].text).primaryKey, ['line', 'order_id']);
      const snap = await readAll(conn.client, `db://${table}/delta`);
      psql(`DELETE FROM ${table} WHERE order_id = 17;`);
      const delta = await readAll(conn.client, `db://${table}/delta?since=${snap.serverVersion}`);
      assert.deepEqual(delta.deleted, ['["a,b",17]']);
    });

    test('snapshot, then a delta of what was created, updated and deleted', async () => {
      const table = `delta_${transport}`;
      psql(`CREATE TABLE ${table} (id integer PRIMARY KEY, v text);
            INSERT INTO ${table} SELECT g, 'v' || g FROM generate_series(1, 5) g;
            SELECT delta_sync.track('${table}');`);
      const snap = await readAll(conn.client, `db://${table}/delta`);
      assert.equal(snap.created.length, 5);
      assert.equal(snap.fullResyncRequired, false);
      psql(`INSERT INTO ${table} VALUES (6, 'new');
            UPDATE ${table} SET v = 'changed' WHERE id = 2;
            DELETE FROM ${table} WHERE id = 3;`);
      const delta = await readAll(conn.client, `db://${table}/delta?since=${snap.serverVersion}`);
      assert.deepEqual(delta.created.map((r) => [r.id, r.v]), [[6, 'new']]);
      assert.deepEqual(delta.updated.map((r) => [r.id, r.v]), [[2, 'changed']]);
      assert.deepEqual(delta.deleted, ['3']);
      assert.notEqual(delta.serverVersion, snap.serverVersion);
      const none = await readAll(conn.client, `db://${table}/delta?since=${delta.serverVersion}`);
      assert.equal(none.created.length + none.updated.length + none.deleted.length, 0);
    });

    test(`a ${BIG_ROWS}-row snapshot is read completely, one content per page`, async () => {
      const snap = await readAll(conn.client, 'db://big/delta');
      assert.equal(snap.created.length, BIG_ROWS);
      assert.equal(new Set(snap.created.map((r) => r.id)).size, BIG_ROWS);
      assert.ok(snap.pages.length >= 10, `${snap.pages.length} contents`);
    });

    test('subscribe: notifications/resources/updated after a commit, coalesced', async () => {
      const table = `live_${transport}`;
      // NOTIFY off, as tables are tracked by default: the feed waits with delta_sync.wait().
      psql(`CREATE TABLE ${table} (id integer PRIMARY KEY); SELECT delta_sync.track('${table}');`);
      assert.equal(psql(`SELECT notify FROM delta_sync.tracked WHERE relid = '${table}'::regclass`), 'f');
      const uri = `db://${table}/delta`;
      const got = [];
      conn.client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => { got.push(n.params.uri); });
      await conn.client.subscribeResource({ uri });
      await new Promise((r) => setTimeout(r, 300));
      // The feed's session waits in delta_sync.wait() (LISTEN is for servers before 1.2 only).
      const sessions = () => psql(`SELECT count(*) FILTER (WHERE query LIKE '%delta_sync.wait(%') || ' ' ||
                                          count(*) FILTER (WHERE query ILIKE 'LISTEN%')
                                   FROM pg_stat_activity WHERE datname = current_database()
                                   AND pid <> pg_backend_pid()`);
      await waitFor(() => /^[1-9][0-9]* 0$/.test(sessions()), 'a session waiting in delta_sync.wait(), none in LISTEN');
      psql(`INSERT INTO ${table} VALUES (1)`);
      await waitFor(() => got.includes(uri), 'the update notification');
      // A burst of commits: far fewer notifications than commits.
      got.length = 0;
      const burst = Array.from({ length: 40 }, (_, i) => `INSERT INTO ${table} VALUES (${i + 100});`).join('');
      psql(burst.replace(/;/g, '; COMMIT; BEGIN;').replace(/^/, 'BEGIN;') + 'COMMIT;');
      await new Promise((r) => setTimeout(r, 500));
      const n = got.filter((u) => u === uri).length;
      assert.ok(n >= 1 && n < 40, `${n} notifications for 40 commits`);
      // Another table without NOTIFY: waited for together with the first.
      await conn.client.subscribeResource({ uri: 'db://quiet/delta' });
      await new Promise((r) => setTimeout(r, 300));
      got.length = 0;
      psql(`INSERT INTO quiet VALUES (${transport === 'stdio' ? 1 : 2}, 'x')`);
      await waitFor(() => got.includes('db://quiet/delta'), 'the update notification of a table without NOTIFY');
      await conn.client.unsubscribeResource({ uri });
    });

    test('list_changed when a table gets tracked or untracked', async () => {
      let changed = 0;
      conn.client.setNotificationHandler(ResourceListChangedNotificationSchema, () => { changed++; });
      const table = `tracked_${transport}`;
      psql(`CREATE TABLE ${table} (id integer PRIMARY KEY); SELECT delta_sync.track('${table}');`);
      await waitFor(() => changed >= 1, 'list_changed after track');
      const before = changed;
      psql(`SELECT delta_sync.untrack('${table}')`);
      await waitFor(() => changed > before, 'list_changed after untrack');
    });

    test('errors: bad since -32602, unknown or untracked table -32002, unknown method -32601', async () => {
      await expectError(conn.client.readResource({ uri: 'db://products/delta?since=garbage' }), -32602, /invalid serverVersion/);
      await expectError(conn.client.readResource({ uri: 'db://no_such_table/delta' }), -32002);
      await expectError(conn.client.readResource({ uri: 'db://untracked/delta' }), -32002);
      await expectError(conn.client.readResource({ uri: 'file:///etc/passwd' }), -32002);
      await expectError(conn.client.subscribeResource({ uri: 'db://untracked/delta' }), -32002);
      await expectError(conn.client.request({ method: 'tools/list', params: {} }, EmptyResultSchema), -32601);
      // The server goes on.
      await conn.client.ping();
      const r = await conn.client.listResources();
      assert.ok(r.resources.length > 0);
    });
  });
}

describe('shapes configured on the command line are resources of their own', () => {
  test('over stdio: listed, read, delta with rows leaving the shape, subscribed, bound cursors', async () => {
    psql(`CREATE TABLE tickets (id integer PRIMARY KEY, status text NOT NULL, title text, body text);
          INSERT INTO tickets SELECT g, CASE WHEN g % 3 = 0 THEN 'open' ELSE 'closed' END, 't' || g, 'b' || g
            FROM generate_series(1, 12) g;
          SELECT delta_sync.track('tickets');`);
    const conn = await connect('stdio', [
      'products',  // tables given: the shapes of other tables are served all the same
      '--shape', "tickets:status = 'open'",
      '--shape', "open_titles=tickets(title):status = 'open'",
      '--shape', "refused=tickets:now() > '2000-01-01'",
    ]);
    try {
      const list = (await conn.client.listResources()).resources;
      const uris = list.map((r) => r.uri);
      assert.ok(uris.includes('db://tickets/delta') && uris.includes('db://open_titles/delta'), uris.join(' '));
      assert.match(list.find((r) => r.uri === 'db://open_titles/delta').description, /tickets where status = 'open'/);
      const templates = (await conn.client.listResourceTemplates()).resourceTemplates.map((t) => t.uriTemplate);
      assert.ok(templates.includes('db://open_titles/delta{?since}'));

      // Only the shape's rows; only its columns and the key.
      const all = await readAll(conn.client, 'db://tickets/delta');
      assert.deepEqual(all.created.map((r) => r.id), [3, 6, 9, 12]);
      const titles = await readAll(conn.client, 'db://open_titles/delta');
      assert.deepEqual(titles.created, [3, 6, 9, 12].map((id) => ({ id, title: `t${id}` })));

      // Subscribed: a commit to the table notifies the shape's resource.
      const got = [];
      conn.client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => { got.push(n.params.uri); });
      await conn.client.subscribeResource({ uri: 'db://open_titles/delta' });
      // A commit before the feed follows the new subscription may not be notified: change a row
      // outside the shape (1, closed) now and then until a notification comes.
      let polls = 0;
      await waitFor(() => {
        if (got.includes('db://open_titles/delta')) return true;
        if (polls++ % 10 === 0) psql(`UPDATE tickets SET body = body || '.' WHERE id = 1`);
        return false;
      }, 'the shape resource notified', 30000);
      psql(`UPDATE tickets SET status = 'closed' WHERE id = 3;    -- leaves the shape
            UPDATE tickets SET status = 'open' WHERE id = 4;      -- enters it
            UPDATE tickets SET title = 'renamed' WHERE id = 6;`);
      const delta = await readAll(conn.client, `db://open_titles/delta?since=${titles.serverVersion}`);
      // 1 changed while out of the shape: its key comes as deleted too (a no-op for the agent).
      assert.deepEqual(delta.deleted.sort(), ['1', '3']);
      assert.deepEqual(delta.updated.map((r) => [r.id, r.title]).sort(), [[4, 't4'], [6, 'renamed']]);
      assert.equal(delta.fullResyncRequired, false);

      // A cursor belongs to its shape: another shape's cursor resyncs.
      const other = await readAll(conn.client, `db://tickets/delta?since=${titles.serverVersion}`);
      assert.equal(other.fullResyncRequired, true);

      // An agent sends no SQL: the URI has no place for a filter.
      await expectError(conn.client.readResource({ uri: "db://tickets/delta?filter=true" }), -32002);
      // A filter the extension refuses: PostgreSQL's message and SQLSTATE, the server goes on.
      await assert.rejects(conn.client.readResource({ uri: 'db://refused/delta' }), (e) => {
        assert.equal(e.code, -32603);
        assert.match(e.message, /may only call immutable functions/);
        assert.equal(e.data?.sqlstate, '0A000');
        return true;
      });
      await conn.client.ping();
    } finally {
      await conn.close();
    }
  });
});

describe('row-level security and privileges apply as in SQL', () => {
  for (const transport of ['stdio', 'http']) {
    test(`over ${transport}`, async () => {
      const conn = await connect(transport, ['--dsn', dsn(DB, 'mcp_reader')]);
      try {
        const uris = [];
        let cursor;
        do {
          const r = await conn.client.listResources(cursor ? { cursor } : {});
          uris.push(...r.resources.map((x) => x.uri));
          cursor = r.nextCursor;
        } while (cursor);
        assert.ok(uris.includes('db://secure/delta'));
        assert.ok(!uris.includes('db://sales.orders/delta'), 'a table the role may not SELECT is not listed');
        const snap = await readAll(conn.client, 'db://secure/delta');
        assert.deepEqual(snap.created.map((r) => r.id).sort((a, b) => a - b), [2, 4, 6, 8, 10]);
        // A tracked table it may not read: PostgreSQL's own refusal.
        await expectError(conn.client.readResource({ uri: 'db://sales.orders/delta' }), -32603, /permission denied/);
      } finally {
        await conn.close();
      }
    });
  }
});

describe('the database unreachable', () => {
  for (const transport of ['stdio', 'http']) {
    test(`over ${transport}: one clear error, then reconnection`, async () => {
      const late = `${DB}_late`;
      psql(`DROP DATABASE IF EXISTS ${late}`, 'postgres');
      const conn = await connect(transport, ['--dsn', dsn(late)]);
      try {
        await assert.rejects(conn.client.listResources(), (e) => {
          assert.match(e.message, /database unavailable/);
          assert.ok(!e.message.includes('\n'), 'one line');
          return true;
        });
        await conn.client.ping();
        psql(`CREATE DATABASE ${late}`, 'postgres');
        psql(`CREATE EXTENSION delta_sync; CREATE TABLE t (id integer PRIMARY KEY);
              INSERT INTO t VALUES (1); SELECT delta_sync.track('t');`, late);
        const snap = await readAll(conn.client, 'db://t/delta');
        assert.equal(snap.created.length, 1);
      } finally {
        await conn.close();
        psql(`DROP DATABASE IF EXISTS ${late} WITH (FORCE)`, 'postgres');
      }
    });
  }
});

// Raw exchanges the SDK will not produce.
function stdioRaw(args = []) {
  const child = spawn(BIN, ['mcp', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d.toString(); });
  const lines = () => out.split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l));
  const exited = new Promise((res) => child.once('exit', (code, signal) => res({ code, signal })));
  return { child, lines, exited, send: (s) => child.stdin.write(s + '\n') };
}

describe('stdio framing and lifecycle', () => {
  test('malformed JSON -32700 and an oversized message are answered, the server goes on', async () => {
    const s = stdioRaw();
    s.send('{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}');
    s.send('{not json');
    s.send(JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'ping', params: { pad: 'x'.repeat(1100000) } }));
    s.send('{"jsonrpc":"2.0","id":3,"method":"ping"}');
    await waitFor(() => s.lines().length >= 4, 'four answers');
    const [init, parse, big, ping] = s.lines();
    assert.equal(init.result.protocolVersion, '2025-03-26');
    assert.equal(parse.error.code, -32700);
    assert.equal(big.error.code, -32600);
    assert.match(big.error.message, /larger than/);
    assert.deepEqual(ping, { jsonrpc: '2.0', id: 3, result: {} });
    s.child.stdin.end();
    const { code } = await s.exited;
    assert.equal(code, 0, 'the end of input stops it cleanly');
  });

  test('SIGTERM stops it cleanly', async () => {
    const s = stdioRaw();
    s.send('{"jsonrpc":"2.0","id":1,"method":"ping"}');
    await waitFor(() => s.lines().length >= 1, 'a ping answer');
    s.child.kill('SIGTERM');
    const { code } = await s.exited;
    assert.equal(code, 0);
  });
});

describe('Streamable HTTP rules', () => {
  let server;
  const token = 'secret-token-' + process.pid;
  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcp-token-'));
    writeFileSync(join(dir, 'token'), token + '\n');
    server = await startHttp(['--token-file', join(dir, 'token')]);
  });
  after(async () => { assert.equal(await server.stop(), 0, 'SIGTERM stops the HTTP server cleanly'); });

  const init = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } };
  const post = (body, headers = {}) => fetch(server.url, {
    method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body),
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
  });

  test('an unauthorised request is refused; the SDK client without the token cannot connect', async () => {
    assert.equal((await post(init)).status, 401);
    assert.equal((await post(init, { authorization: 'Bearer wrong' })).status, 401);
    const client = new Client({ name: 'no-token', version: '1' });
    await assert.rejects(client.connect(new StreamableHTTPClientTransport(new URL(server.url))));
  });

  test('a foreign Origin is refused (403), a local one accepted', async () => {
    const auth = { authorization: `Bearer ${token}` };
    assert.equal((await post(init, { ...auth, origin: 'http://evil.example' })).status, 403);
    assert.equal((await post(init, { ...auth, origin: 'http://localhost:6274' })).status, 200);
  });

  test('sessions: required, unknown 404, DELETE ends them; bad JSON 400 -32700; 1 MB limit 413', async () => {
    const auth = { authorization: `Bearer ${token}` };
    const r = await post(init, auth);
    assert.equal(r.status, 200);
    const id = r.headers.get('mcp-session-id');
    assert.ok(id && id.length >= 32);
    const ping = { jsonrpc: '2.0', id: 2, method: 'ping' };
    assert.equal((await post(ping, auth)).status, 400, 'no session id');
    assert.equal((await post(ping, { ...auth, 'mcp-session-id': 'nope' })).status, 404);
    const ok = await post(ping, { ...auth, 'mcp-session-id': id, 'mcp-protocol-version': '2025-06-18' });
    assert.deepEqual(await ok.json(), { jsonrpc: '2.0', id: 2, result: {} });
    assert.equal((await post(ping, { ...auth, 'mcp-session-id': id, 'mcp-protocol-version': '1999-01-01' })).status, 400);
    const bad = await post('{oops', { ...auth, 'mcp-session-id': id });
    assert.equal(bad.status, 400);
    assert.equal((await bad.json()).error.code, -32700);
    const big = await post(JSON.stringify({ ...ping, params: { pad: 'x'.repeat(1100000) } }), { ...auth, 'mcp-session-id': id });
    assert.equal(big.status, 413);
    const del = await fetch(server.url, { method: 'DELETE', headers: { ...auth, 'mcp-session-id': id } });
    assert.equal(del.status, 200);
    assert.equal((await post(ping, { ...auth, 'mcp-session-id': id })).status, 404, 'an ended session');
  });

  test('the SDK client with the token works', async () => {
    const client = new Client({ name: 'token', version: '1' });
    const t = new StreamableHTTPClientTransport(new URL(server.url), { requestInit: { headers: { Authorization: `Bearer ${token}` } } });
    await client.connect(t);
    const r = await client.listResources();
    assert.ok(r.resources.some((x) => x.uri === 'db://products/delta'));
    await t.terminateSession();
    await client.close();
  });
});

describe('a read cut short', () => {
  test('a lost connection mid-snapshot: never claimed complete, and the next read is whole', async (t) => {
    const conn = await connect('stdio', ['--page-size', '1000']);
    try {
      const reading = conn.client.readResource({ uri: 'db://big/delta' }).then((r) => ({ r }), (e) => ({ e }));
      let killed = 0;
      for (let i = 0; i < 1000 && !killed; i++) {
        killed = Number(psql(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                              WHERE datname = '${DB}' AND pid <> pg_backend_pid()
                                AND query ~ '^FETCH FORWARD 1 FROM delta_sync_mcp_[0-9]+$'`));
        if (!killed) await new Promise((r) => setTimeout(r, 5));
      }
      assert.ok(killed >= 1, 'the server\'s session was terminated during the read');
      const out = await reading;
      if (out.e) {
        // Cut before the first page: a plain JSON-RPC error.
        assert.match(out.e.message, /database unavailable/);
        t.diagnostic('cut before the first page');
      } else {
        const meta = out.r._meta.deltaSync;
        assert.equal(meta.complete, false);
        assert.match(meta.error, /database unavailable/);
        assert.equal(meta.contents, out.r.contents.length);
        const rows = docs(out.r).reduce((n, d) => n + d.created.length, 0);
        assert.ok(rows < BIG_ROWS, `${rows} rows before the cut`);
        t.diagnostic(`cut after ${meta.contents} contents (${rows} rows)`);
      }
      const again = await readAll(conn.client, 'db://big/delta');
      assert.equal(again.created.length, BIG_ROWS);
    } finally {
      await conn.close();
    }
  });
});
