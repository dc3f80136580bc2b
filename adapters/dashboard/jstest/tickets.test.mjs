// TicketSet and order.js on their own (run with the client tests by
// TestClientJS_UnderNode): the cases an attack on them found.
import { test } from "node:test";
import assert from "node:assert/strict";
import { TicketSet } from "../static/js/tickets.js";
import { comparator } from "../static/js/order.js";

const T = (id, updated, extra = {}) => ({ id, subject: "s", requester: "r", team: "billing", status: "open", priority: "normal", assignee: "", tags: [], created_at: "2024-01-01T00:00:00Z", updated_at: updated, ...extra });

function order(set) { return Array.from({ length: set.size }, (_, i) => set.at(i).id); }

test("upsertMany: one id twice in one message holds one row", () => {
  const s = new TicketSet("");
  s.upsertMany([T(1, "2024-01-01T00:00:01Z"), T(1, "2024-01-01T00:00:05Z")]);
  assert.deepEqual(order(s), [1], "duplicate row for one id");
  assert.equal(s.size, 1);
});

test("upsertMany: one id twice in one message, set already non-empty", () => {
  const s = new TicketSet("-priority");
  s.upsertMany([T(9, "2024-01-01T00:00:09Z")]);
  s.upsertMany([T(2, "2024-01-01T00:00:02Z", { priority: "low" }), T(2, "2024-01-01T00:00:03Z", { priority: "urgent" })]);
  assert.deepEqual(order(s), [2, 9]);
  // and the stale copy must go when removed
  s.remove(2);
  assert.deepEqual(order(s), [9], "a removed ticket still shows a row");
});

test("upsertMany: empty array and already-held tickets", () => {
  const s = new TicketSet("");
  s.upsertMany([]);
  assert.equal(s.size, 0);
  s.upsertMany([T(1, "2024-01-01T00:00:01Z"), T(2, "2024-01-01T00:00:02Z")]);
  s.upsertMany([T(1, "2024-01-01T00:00:03Z"), T(3, "2024-01-01T00:00:00Z")]);
  assert.deepEqual(order(s), [1, 2, 3]);
});

test("sub-millisecond updated_at: page order agrees with the server's", () => {
  // The server keeps microseconds (RFC3339Nano); Date.parse keeps ms.
  const a = T(1, "2024-01-01T00:00:00.000900Z");
  const b = T(2, "2024-01-01T00:00:00.000100Z");
  // server: -updated_at puts a (later) first
  const cmp = comparator("-updated_at");
  assert.ok(cmp(a, b) < 0, "page's -updated_at puts the later ticket (id 1) first");
  const s = new TicketSet("updated_at");
  s.upsertMany([a, b]);
  assert.deepEqual(order(s), [2, 1], "updated_at ascending: id 2 (earlier by 0.8 ms) first");
});

test("times sort at full precision, with any number of fraction digits and offsets", () => {
  const cmp = comparator("created_at");
  const at = (created_at) => T(1, "2024-01-01T00:00:00Z", { created_at });
  assert.ok(cmp(at("2024-01-01T00:00:00.48293Z"), at("2024-01-01T00:00:00.482931Z")) < 0);
  assert.ok(cmp(at("2024-01-01T00:00:01Z"), at("2024-01-01T00:00:00.999999999Z")) > 0);
  assert.ok(cmp(at("2024-01-01T01:00:00.5+01:00"), at("2024-01-01T00:00:00.4Z")) > 0);
  assert.equal(cmp(at("2024-01-01T00:00:00.1Z"), at("2024-01-01T00:00:00.100000Z")), 0);
});
