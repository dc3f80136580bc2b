// Tests of client.js under Node against the real server: the ticketstream
// binary at $TICKETSTREAM_BIN, serving an SQLite database in
// $TICKETSTREAM_TMP, written meanwhile by `ticketstream simulate` as another
// program would. Run by TestClientJS_UnderNode (client_node_test.go):
//
//   node [--experimental-websocket] --test adapters/dashboard/jstest/
//
// Each test checks the view against what the REST API says the filter
// holds, and the pushed counts against the view.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { readFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";

import { connect, heldMessages, PROTOCOL, View } from "../static/js/client.js";
import { comparator, compareBytes, SORT_FIELDS } from "../static/js/order.js";

const BIN = process.env.TICKETSTREAM_BIN;
const TMP = process.env.TICKETSTREAM_TMP;
if (!BIN || !TMP) throw new Error("set TICKETSTREAM_BIN and TICKETSTREAM_TMP (go test runs this)");
const DATABASE = "sqlite:" + join(TMP, "client.db");
const STATIC = new URL("../static/js/", import.meta.url);
const FAST = { first: 50, max: 400 }; // reconnect at once: the tests wait for it

let port = 0;
let base = "";
let server = null;
let serverLog = "";
const clients = [];

before(async () => {
  port = await freePort();
  base = `http://127.0.0.1:${port}`;
  await startServer();
});

after(async () => {
  for (const c of clients) c.close();
  await stopServer();
});

// ---- the server ------------------------------------------------------------

function freePort() {
  return new Promise((resolve, reject) => {
    const l = createServer();
    l.on("error", reject);
    l.listen(0, "127.0.0.1", () => {
      const { port } = l.address();
      l.close(() => resolve(port));
    });
  });
}

async function startServer() {
  const args = ["serve", "--listen", `127.0.0.1:${port}`, "--database", DATABASE, "--demo-tickets", "400",
    "--internal-listen", "", "--log-format", "text", "--shutdown-timeout", "2s"];
  server = spawn(BIN, args, { stdio: ["ignore", "ignore", "pipe"] });
  server.stderr.on("data", (b) => { serverLog = (serverLog + b).slice(-20_000); });
  const exited = once(server, "exit");
  await until("the server to be ready", async () => {
    if (server.exitCode !== null) throw new Error(`the server exited with ${server.exitCode}:\n${serverLog}`);
    try {
      const resp = await fetch(base + "/readyz");
      await resp.body?.cancel();
      return resp.ok;
    } catch {
      return false;
    }
  }, 30_000);
  server.exited = exited;
}

/** Stops the server with SIGTERM: its sockets close with 1001. */
async function stopServer() {
  if (!server || server.exitCode !== null) return;
  server.kill("SIGTERM");
  await server.exited;
}

/** Writes n changes into the database through `ticketstream simulate`. */
async function simulate(n, seed) {
  await promisify(execFile)(BIN, ["simulate", "--database", DATABASE, "--count", String(n), "--rate", "2000",
    "--updates", "60", "--seed", String(seed), "--log-format", "text"]);
}

/** The tickets of filter as the REST API lists them, by id. */
async function rest(filter) {
  const resp = await fetch(`${base}/v1/tickets?${filter}`);
  assert.equal(resp.status, 200, `GET /v1/tickets?${filter}`);
  const body = await resp.json();
  assert.ok(!body.next_cursor, "the filter fits one page");
  return new Map(body.tickets.map((t) => [t.id, t]));
}

/** The ids of the first limit tickets of filter in the order sort, as the REST API pages them. */
async function restOrder(filter, sort, limit) {
  const resp = await fetch(`${base}/v1/tickets?${filter}&sort=${sort}&limit=${limit}`);
  assert.equal(resp.status, 200, `GET /v1/tickets?${filter}&sort=${sort}`);
  const body = await resp.json();
  return body.tickets;
}

// ---- helpers ----------------------------------------------------------------

async function until(what, cond, ms = 15_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Opens a client that records every message it applied, every status and
 * reset, and every socket it opened (a WebSocket subclass the test can cut).
 */
function open(options) {
  const rec = { messages: [], statuses: [], resets: [], sockets: [] };
  class Recorded extends WebSocket {
    constructor(...args) {
      super(...args);
      rec.sockets.push(this);
    }
  }
  const c = connect({
    url: base, WebSocket: Recorded, backoff: FAST, ...options,
    onView: (view, msg) => rec.messages.push(msg),
    onStatus: (s, detail) => rec.statuses.push(detail ? `${s}: ${detail}` : s),
    onReset: (why) => rec.resets.push(why),
  });
  c.rec = rec;
  clients.push(c);
  return c;
}

/** The types of the messages applied since the i-th. */
const typesSince = (c, i) => c.rec.messages.slice(i).map((m) => m.type);

/** Fails unless the view holds exactly the tickets REST lists for filter, as they are now. */
async function checkView(c, filter) {
  const want = await rest(filter);
  const got = c.tickets;
  const missing = [...want.keys()].filter((id) => !got.has(id));
  const extra = [...got.keys()].filter((id) => !want.has(id));
  const stale = [...want.values()].filter((t) => got.has(t.id) && got.get(t.id).updated_at !== t.updated_at).map((t) => t.id);
  assert.deepEqual({ missing, extra, stale }, { missing: [], extra: [], stale: [] }, `the view of "${filter}" against REST`);
}

/** Waits until the view matches REST (changes take a few ms to arrive). */
async function settles(c, filter) {
  let last;
  await until(`the view of "${filter}" to match REST`, async () => {
    try {
      await checkView(c, filter);
      return true;
    } catch (err) {
      last = err;
      return false;
    }
  }).catch((err) => {
    throw last ?? err;
  });
}

/** Fails unless the pushed counts describe the view (an empty bucket may be 0 or absent). */
function checkCounts(c) {
  const status = {}, team = {};
  for (const t of c.tickets.values()) {
    status[t.status] = (status[t.status] ?? 0) + 1;
    team[t.team] = (team[t.team] ?? 0) + 1;
  }
  assert.ok(c.counts, "counts are known");
  const nonzero = (o) => Object.fromEntries(Object.entries(o).filter(([, n]) => n !== 0));
  const got = { total: c.counts.total, status: nonzero(c.counts.status), team: nonzero(c.counts.team) };
  assert.deepEqual(got, { total: c.tickets.size, status, team }, "the pushed counts against the view");
}

const live = (c) => until(`the client to be live (${c.rec.statuses.join(", ")})`, () => c.status === "live");

// ---- tests ---------------------------------------------------------------------

test("the binary serves the module and its declarations as they are in the repository", async () => {
  for (const name of ["client.js", "client.d.ts"]) {
    const resp = await fetch(`${base}/ui/js/${name}`);
    assert.equal(resp.status, 200, name);
    assert.ok(await resp.text() === await readFile(new URL(name, STATIC), "utf8"), `${name} differs from the repository's`);
  }
  assert.equal(PROTOCOL, "ticketstream.v1");
});

test("subscribes with a filter, keeps the view and the counts as tickets change", async () => {
  const filter = "status=new,open,pending";
  const c = open({ filter });
  await live(c);
  assert.ok(c.view.complete, "the snapshot ended");
  assert.deepEqual(c.rec.statuses.slice(0, 2), ["connecting", "loading"]);
  assert.ok(c.tickets.size > 0, "the filter holds tickets");
  await checkView(c, filter);
  checkCounts(c);

  // Updates move tickets in and out of the filter: upserts and removes.
  const before = c.rec.messages.length;
  await simulate(40, 7);
  await settles(c, filter);
  const types = typesSince(c, before);
  assert.ok(types.includes("changes"), `changes arrived: ${types}`);
  assert.ok(!types.includes("snapshot"), `no snapshot again: ${types}`);
  checkCounts(c);
  assert.ok(c.rec.messages.at(-1).cursor === c.cursor && c.cursor, "the cursor is the last message's");
  assert.equal(c.rec.sockets.length, 1, "one socket");

  // A new filter on the open socket: a fresh subscription, the view dropped.
  c.setFilter("team=billing");
  assert.deepEqual(c.rec.resets, ["filter"]);
  assert.equal(c.tickets.size, 0);
  await live(c);
  await checkView(c, "team=billing");
  checkCounts(c);
  assert.equal(c.rec.sockets.length, 1, "the new filter went over the same socket");
  c.close();
  assert.equal(c.status, "closed");
});

test("a user clicking through filters faster than the server takes subscribes ends on the last one", async () => {
  const c = open({ filter: "" });
  await live(c);
  const filters = ["status=open", "status=pending", "team=billing", "priority=high", "status=solved"];
  for (let i = 0; i < 40; i++) c.setFilter(filters[i % filters.length]); // far past the burst of 20
  const last = filters[39 % filters.length];
  assert.equal(c.filter, last);
  await settles(c, last);
  await live(c);
  assert.equal(c.rec.sockets.length, 1, "the same socket: never closed for flooding");
  checkCounts(c);
});

test("after a dropped socket it resumes from the cursor, without a snapshot", async () => {
  const filter = "priority=high,urgent";
  const c = open({ filter });
  await live(c);
  const held = c.tickets.size;
  const since = c.rec.messages.length;

  c.rec.sockets[0].close(4000, "the test drops the socket");
  await until("a second socket", () => c.rec.sockets.length === 2);
  await simulate(30, 11);
  await settles(c, filter);
  await live(c);
  const types = typesSince(c, since);
  assert.ok(!types.includes("snapshot") && !types.includes("resync"), `resumed, not reloaded: ${types}`);
  assert.ok(c.rec.statuses.some((s) => s.startsWith("reconnecting")), `statuses: ${c.rec.statuses}`);
  assert.deepEqual(c.rec.resets, []);
  assert.ok(held > 0);
  assert.ok(new RegExp(`[?&]held=${held}(&|$)`).test(c.rec.sockets[1].url), `says what it holds: ${c.rec.sockets[1].url}`);
  checkCounts(c);
});

test("across a server restart it catches up with what was written while it was down", async () => {
  const filter = "";
  const c = open({ filter });
  await live(c);
  const since = c.rec.messages.length;

  await stopServer();
  await until("the client to notice", () => c.status === "reconnecting");
  // The page says why: the server's close reason, beside the retry.
  assert.ok(c.rec.statuses.some((s) => /^reconnecting: server shutting down; retrying in \d+ s$/.test(s)), `statuses: ${c.rec.statuses}`);
  await simulate(50, 13); // written while no server runs
  await startServer();

  await settles(c, filter);
  await live(c);
  const types = typesSince(c, since);
  assert.ok(!types.includes("snapshot") && !types.includes("resync"), `resumed, not reloaded: ${types}`);
  assert.ok(types.includes("changes") && types.includes("counts"), `what was missed, then the counts: ${types}`);
  assert.ok(c.rec.sockets.length >= 2, "a new socket");
  checkCounts(c);
});

test("a forged cursor gets resync, and the view is rebuilt", async () => {
  const filter = "status=open";
  const first = open({ filter });
  await live(first);
  const cursor = first.cursor;
  first.close();

  // The same shape, one character changed: its MAC no longer verifies.
  const i = Math.floor(cursor.length / 2);
  const forged = cursor.slice(0, i) + (cursor[i] === "A" ? "B" : "A") + cursor.slice(i + 1);
  const c = open({ filter, cursor: forged });
  c.tickets.set(-1, { id: -1, status: "open", team: "ghost" }); // what a stale view would still show
  await live(c);
  assert.deepEqual(c.rec.resets, ["resync"]);
  assert.equal(c.rec.messages[0].type, "resync");
  assert.ok(c.rec.messages[0].reason, "resync says why");
  assert.ok(typesSince(c, 1).includes("snapshot"), "a fresh snapshot follows");
  assert.ok(!c.tickets.has(-1), "the stale view was dropped");
  await checkView(c, filter);
  checkCounts(c);

  // A cursor of another filter cannot be resumed either.
  const other = open({ filter: "status=pending", cursor });
  await live(other);
  assert.deepEqual(other.rec.resets, ["resync"]);
  await checkView(other, "status=pending");
  checkCounts(other);

  // Reconnecting afterwards resumes from the fresh cursor, not the refused one.
  const since = c.rec.messages.length;
  c.rec.sockets.at(-1).close(4000, "the test drops the socket");
  await until("a second socket", () => c.rec.sockets.length === 2);
  await live(c);
  assert.deepEqual(c.rec.resets, ["resync"]);
  assert.ok(!typesSince(c, since).includes("snapshot"), `resumed: ${typesSince(c, since)}`);
});

test("a refused filter stops the client with the server's reason, and never retries", async () => {
  // Refused at the upgrade: the socket learns nothing, the REST API says why.
  const bad = open({ filter: "status=opne" });
  await until("the refusal", () => bad.status === "error");
  assert.match(bad.detail, /unknown status/);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(bad.rec.sockets.length, 1, "no retry");

  // Refused in a subscribe message: closed with 1008.
  const c = open({ filter: "status=open" });
  await live(c);
  c.setFilter("priority=hgh");
  await until("the 1008 close", () => c.status === "error");
  assert.match(c.detail, /unknown priority/);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(c.rec.sockets.length, 1, "no retry");

  // A new filter starts it again.
  c.setFilter("priority=high");
  await live(c);
  await checkView(c, "priority=high");
});

test("heldMessages encodes every ticket's id, team and status, each message within 4096 bytes", () => {
  const tickets = new Map();
  const statuses = ["new", "open", "pending", "on_hold", "solved", "closed"];
  for (let i = 0; i < 3000; i++) {
    const id = 1 + i * 977;
    tickets.set(id, { id, team: i % 5 === 0 ? "équipe \"é\"" : `team-${i % 9}`, status: statuses[i % 6] });
  }
  const got = new Map();
  for (const text of heldMessages(tickets)) {
    assert.ok(new TextEncoder().encode(text).length <= 4096, `a held message of ${text.length} bytes`);
    const m = JSON.parse(text);
    assert.equal(m.type, "held");
    const bytes = Buffer.from(m.tickets, "base64url");
    let at = 0;
    const varint = () => {
      let n = 0;
      let mul = 1;
      for (;;) {
        const b = bytes[at++];
        n += (b & 127) * mul;
        if (b < 128) return n;
        mul *= 128;
      }
    };
    let id = 0;
    while (at < bytes.length) {
      const z = varint();
      id += z % 2 === 0 ? z / 2 : -(z + 1) / 2;
      got.set(id, { team: m.teams[varint()], status: statuses[varint()] });
    }
  }
  assert.equal(got.size, tickets.size);
  for (const [id, t] of tickets) assert.deepEqual(got.get(id), { team: t.team, status: t.status }, `ticket ${id}`);
});

test("View applies messages on its own: upserts, removes, counts and their deltas", () => {
  const v = new View();
  const t = (id, status, at) => ({ id, status, team: "billing", updated_at: at });
  v.apply({ type: "snapshot", sub: 1, seq: 0, rows: 2, cursor: "c1", tickets: [t(1, "open", "1"), t(2, "new", "1")] });
  assert.equal(v.complete, false);
  v.apply({ type: "changes", sub: 1, cursor: "c2", counts: { total: 9 }, changes: [] });
  assert.equal(v.counts, null, "deltas before whole counts are dropped");
  v.apply({ type: "end", sub: 1, rows: 2, chunks: 1, cursor: "c3", counts: { total: 2, status: { open: 1, new: 1 }, team: { billing: 2 } } });
  assert.ok(v.complete);
  v.apply({
    type: "changes", sub: 1, cursor: "c4", counts: { total: 1, status: { new: 0 }, team: { billing: 1 } },
    changes: [{ op: "remove", id: 2 }, { op: "upsert", ticket: t(1, "open", "2") }, { op: "remove", id: 99 }],
  });
  assert.deepEqual([...v.tickets.keys()], [1]);
  assert.equal(v.tickets.get(1).updated_at, "2");
  assert.deepEqual(v.counts, { total: 1, status: { open: 1 }, team: { billing: 1 } });
  assert.equal(v.cursor, "c4");
  assert.equal(v.apply({ type: "someday", sub: 1, cursor: "c5" }), false, "unknown types are ignored");
  assert.equal(v.cursor, "c4");
  v.apply({ type: "resync", sub: 1, reason: "too old", cursor: "c6" });
  assert.deepEqual([v.tickets.size, v.counts, v.complete, v.cursor], [0, null, false, "c6"]);
});

// ---- live windows ------------------------------------------------------------------

/** Fails unless the window holds, in order, what REST lists first for filter and sort. */
async function checkWindow(c, filter, sort, n) {
  const want = await restOrder(filter, sort, n);
  assert.deepEqual(c.rows.map((t) => t.id), want.map((t) => t.id), `the window of "${filter}" by ${sort} against REST`);
  assert.deepEqual([...c.tickets.keys()].sort(), want.map((t) => t.id).sort(), "tickets by id are the window's rows");
  const stale = want.filter((t) => c.tickets.get(t.id).updated_at !== t.updated_at).map((t) => t.id);
  assert.deepEqual(stale, [], "rows as they are now");
}

test("a window holds the first N rows in the server's order, kept live, and comes afresh after a reconnect", async () => {
  const filter = "status=new,open,pending";
  const sort = "-priority,created_at";
  const n = 25;
  const c = open({ filter: `${filter}&sort=${sort}&window=${n}` });
  await live(c);
  assert.equal(c.view.window, n);
  assert.ok(c.view.complete && c.counts, "rows and counts came");
  await checkWindow(c, filter, sort, n);
  assert.equal(c.counts.total, (await rest(filter)).size, "counts cover the whole filter");
  assert.ok(c.rec.messages.every((m) => m.type === "changes" && !m.cursor), "only changes, no cursor");
  assert.equal(c.cursor, "");
  // The page sorts with the same order as the server.
  const cmp = comparator(sort);
  for (let i = 1; i < c.rows.length; i++) assert.ok(cmp(c.rows[i - 1], c.rows[i]) < 0, `rows ${i - 1} and ${i} in order.js's order`);

  await simulate(60, 17);
  let last;
  await until("the window to match REST", async () => {
    try {
      await checkWindow(c, filter, sort, n);
      return true;
    } catch (err) {
      last = err;
      return false;
    }
  }).catch((err) => { throw last ?? err; });
  assert.ok(c.rows.length <= n);

  // A dropped socket: subscribe again without a cursor; the old rows stay
  // until the new window's first message replaces them.
  const held = c.rows.length;
  c.rec.sockets[0].close(4000, "the test drops the socket");
  await until("a second socket", () => c.rec.sockets.length === 2);
  assert.ok(!c.rec.sockets[1].url.includes("cursor="), `no cursor: ${c.rec.sockets[1].url}`);
  await until("the window again", () => c.rec.resets.includes("window") && c.status === "live");
  assert.ok(held > 0);
  await checkWindow(c, filter, sort, n);

  // Back to the whole filter: the view holds no rows array.
  c.setFilter(filter);
  assert.equal(c.rows, null);
  await live(c);
  await checkView(c, filter);
});

test("a sort without a window brings the whole filter, its snapshot in that order", async () => {
  const filter = "status=open,pending&sort=-priority,created_at";
  const c = open({ filter });
  await live(c);
  await checkView(c, filter);
  const order = c.rec.messages.filter((m) => m.type === "snapshot").flatMap((m) => m.tickets.map((t) => t.id));
  const want = (await restOrder("status=open,pending", "-priority,created_at", 20)).map((t) => t.id);
  assert.deepEqual(order.slice(0, 20), want, "the first rows are the sort's first");
});

test("View applies a window's operations: upsert at an index, remove, clear, counts whole then moved", () => {
  const v = new View();
  v.setWindow(3);
  const t = (id) => ({ id, status: "open", team: "a" });
  const ids = () => v.rows.map((r) => r.id);
  v.apply({ type: "changes", sub: 1, changes: [{ op: "upsert", index: 0, ticket: t(1) }, { op: "upsert", index: 1, ticket: t(2) }, { op: "upsert", index: 2, ticket: t(3) }] });
  assert.deepEqual(ids(), [1, 2, 3]);
  assert.equal(v.complete, false, "no counts yet");
  v.apply({ type: "changes", sub: 1, counts: { total: 10, status: { open: 10 }, team: { a: 10 } }, changes: [] });
  assert.ok(v.complete);
  assert.deepEqual(v.counts, { total: 10, status: { open: 10 }, team: { a: 10 } });
  // 3 moves to the top; 2 leaves and 4 slides in at the edge.
  v.apply({ type: "changes", sub: 1, counts: { total: 11, status: { open: 11 } }, changes: [{ op: "upsert", index: 0, ticket: t(3) }, { op: "remove", id: 2 }, { op: "upsert", index: 2, ticket: t(4) }] });
  assert.deepEqual(ids(), [3, 1, 4]);
  assert.deepEqual([...v.tickets.keys()].sort(), [1, 3, 4]);
  assert.deepEqual(v.counts, { total: 11, status: { open: 11 }, team: { a: 10 } });
  v.apply({ type: "changes", sub: 1, changes: [{ op: "clear" }, { op: "upsert", index: 0, ticket: t(9) }] });
  assert.deepEqual(ids(), [9]);
  assert.deepEqual([...v.tickets.keys()], [9]);
  assert.equal(v.cursor, "");
  v.setWindow(0);
  assert.equal(v.rows, null);
});

test("order.js sorts every field both ways as the server does", async () => {
  const all = [...(await rest("")).values()];
  for (const field of SORT_FIELDS) {
    for (const sort of [field, "-" + field]) {
      const want = (await restOrder("", sort, all.length)).map((t) => t.id);
      const got = [...all].sort(comparator(sort)).map((t) => t.id);
      assert.deepEqual(got, want, `sort=${sort}`);
    }
  }
  // UTF-8 byte order, not UTF-16's: U+FFFD before U+1F600, no assignee first.
  assert.ok(compareBytes("\uFFFD", "\u{1F600}") < 0);
  assert.ok(compareBytes("", "a") < 0 && compareBytes("b", "a") > 0 && compareBytes("a", "a") === 0);
});
