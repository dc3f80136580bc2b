// SLA badges: how long an unsolved ticket has left before its target, from
// the targets per priority the server serves at /ui/settings.json. Tickets
// carry no first-response time, so a ticket still new is due its first
// response at created_at + the first-response target, and any other
// unsolved one (open, pending, on hold) its resolution at created_at + the
// resolution target. Solved and closed tickets have no badge.

import { age } from "./format.js";

const UNSOLVED = new Set(["new", "open", "pending", "on_hold"]);
const SOON = 0.25; // the last quarter of a target is "due soon"

let targets = null; // {priority: {first_response_s, resolution_s}}

/** Loads the targets; the badges stay off until they are known. */
export async function loadSLA(url = "/ui/settings.json") {
  const resp = await fetch(url, { cache: "no-cache" });
  if (!resp.ok) throw new Error(`${url}: ${resp.status}`);
  targets = (await resp.json()).sla ?? null;
  return targets;
}

/**
 * Returns the badge of ticket t at now, or null: {kind ("first response"
 * or "resolution"), due (ms), left (ms, negative when overdue), state
 * ("ok", "soon" or "overdue"), text, label}.
 */
export function slaBadge(t, now = Date.now()) {
  if (!targets || !UNSOLVED.has(t.status)) return null;
  const target = targets[t.priority];
  const created = Date.parse(t.created_at);
  if (!target || !(created > 0)) return null;
  const first = t.status === "new";
  const span = (first ? target.first_response_s : target.resolution_s) * 1000;
  const due = created + span;
  const left = due - now;
  const kind = first ? "first response" : "resolution";
  const state = left < 0 ? "overdue" : left < span * SOON ? "soon" : "ok";
  // age() says how long ago a time was: the gap between now and the due
  // time is the age of the earlier seen from the later.
  const gap = age(new Date(Math.min(now, due)).toISOString(), Math.max(now, due)); // "now" under a minute
  const text = left < 0 ? (gap === "now" ? "overdue" : `overdue ${gap}`) : gap === "now" ? "<1m left" : `${gap} left`;
  const when = new Date(due).toLocaleString();
  const label = left < 0 ? `${kind} overdue since ${when}` : `${kind} due ${when}`;
  return { kind, due, left, state, text, label };
}
