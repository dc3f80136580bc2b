// TicketSet holds the tickets a dashboard shows, by id, in the order the
// page lists them: most recently updated first by default, or any order
// order.js knows (the server's). Each ticket is held once, so a change
// delivered again can never make a duplicate row. WindowRows shows a live
// window the client keeps in the server's order, with the same methods.

import { keyed, keyedComparator } from "./order.js";

/**
 * The order of a view with no sort asked: most recently updated first,
 * and of two updated at once the higher id (where the server's -updated_at
 * takes the lower): the snapshot, (updated_at, id) ascending, only appends.
 */
export const DEFAULT_SORT = "";

export class TicketSet {
  #byId = new Map(); // id -> entry: keyed(t)
  // Entries in reverse display order: a snapshot arrives oldest first, so
  // in the default order it only appends.
  #asc = [];
  #after; // (a, b) => number: < 0 when entry a is shown after entry b

  /** sort: as the server takes it ("-priority,created_at"); "" the default order. */
  constructor(sort = DEFAULT_SORT) { this.setOrder(sort); }

  /** Orders the tickets held, and those to come, by sort ("": the default order). */
  setOrder(sort) {
    const cmp = sort ? keyedComparator(sort) : keyedComparator("-updated_at", true);
    this.#after = (a, b) => cmp(b, a);
    this.#asc = [...this.#byId.values()].sort(this.#after);
  }

  /** Number of tickets held. */
  get size() { return this.#asc.length; }

  /** Drops every ticket. */
  clear() {
    this.#byId.clear();
    this.#asc = [];
  }

  /** Returns the ticket with this id, or undefined. */
  get(id) { return this.#byId.get(id)?.t; }

  /** Adds t or replaces the ticket of its id; returns "new" or "changed". */
  upsert(t) {
    const old = this.#byId.get(t.id);
    if (old) this.#removeEntry(old);
    const e = keyed(t);
    this.#byId.set(t.id, e);
    const at = this.#upper(e);
    if (at === this.#asc.length) this.#asc.push(e);
    else this.#asc.splice(at, 0, e);
    return old ? "changed" : "new";
  }

  /**
   * Adds the tickets of a snapshot message: those not held are merged in
   * at once, so that a snapshot in display order (the newest or most
   * urgent first) costs one pass a message, not one a ticket.
   */
  upsertMany(ts) {
    const fresh = [];
    const freshAt = new Map(); // id -> index in fresh: a message may name a ticket twice
    for (const t of ts) {
      const i = freshAt.get(t.id);
      if (i !== undefined) {
        fresh[i] = keyed(t); // the later version wins
        this.#byId.set(t.id, fresh[i]);
        continue;
      }
      if (this.#byId.has(t.id)) {
        this.upsert(t);
        continue;
      }
      const e = keyed(t);
      this.#byId.set(t.id, e);
      freshAt.set(t.id, fresh.length);
      fresh.push(e);
    }
    if (fresh.length === 0) return;
    fresh.sort(this.#after);
    const a = this.#asc;
    if (a.length === 0 || !(this.#after(fresh[0], a[a.length - 1]) < 0)) {
      for (const e of fresh) a.push(e); // after everything held: the oldest-first snapshot
      return;
    }
    const out = new Array(a.length + fresh.length);
    let i = 0, j = 0, k = 0;
    while (i < a.length && j < fresh.length) out[k++] = this.#after(fresh[j], a[i]) < 0 ? fresh[j++] : a[i++];
    while (i < a.length) out[k++] = a[i++];
    while (j < fresh.length) out[k++] = fresh[j++];
    this.#asc = out;
  }

  /** Drops the ticket with this id; reports whether it was held. */
  remove(id) {
    const e = this.#byId.get(id);
    if (!e) return false;
    this.#removeEntry(e);
    this.#byId.delete(id);
    return true;
  }

  /** Returns the i-th ticket in display order (0 is the first shown). */
  at(i) { return this.#asc[this.#asc.length - 1 - i]?.t; }

  /** Returns the display position of the ticket with this id, or -1. */
  indexOf(id) {
    const e = this.#byId.get(id);
    if (!e) return -1;
    const i = this.#lower(e);
    return this.#asc[i] === e ? this.#asc.length - 1 - i : -1;
  }

  /** Returns every id held, for checks. */
  ids() { return [...this.#byId.keys()]; }

  #removeEntry(e) {
    // Entries are unique by id (the order's last key), so the first not less than e is e.
    const i = this.#lower(e);
    if (this.#asc[i] === e) this.#asc.splice(i, 1);
  }

  #lower(e) {
    let lo = 0, hi = this.#asc.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#after(this.#asc[mid], e) < 0) lo = mid + 1; else hi = mid;
    }
    return lo;
  }

  #upper(e) {
    const a = this.#asc;
    if (a.length === 0 || !(this.#after(e, a[a.length - 1]) < 0)) return a.length;
    let lo = 0, hi = a.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#after(e, a[mid]) < 0) hi = mid; else lo = mid + 1;
    }
    return lo;
  }
}

/** WindowRows shows a client's live window (view.rows) as a TicketSet would. */
export class WindowRows {
  #view;
  constructor(view) { this.#view = view; }
  get size() { return this.#view.rows?.length ?? 0; }
  get(id) { return this.#view.tickets.get(id); }
  at(i) { return this.#view.rows?.[i]; }
  indexOf(id) { return this.#view.rows?.findIndex((t) => t.id === id) ?? -1; }
  ids() { return [...this.#view.tickets.keys()]; }
}
