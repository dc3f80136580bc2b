// TicketSet holds the tickets a dashboard shows, by id, in the order the
// page lists them: most recently updated first (ties by id). Each ticket is
// held once, so a change delivered again can never make a duplicate row.

function keyOf(t) {
  return { ms: Date.parse(t.updated_at) || 0, id: t.id };
}

function less(a, b) {
  return a.ms < b.ms || (a.ms === b.ms && a.id < b.id);
}

export class TicketSet {
  #byId = new Map(); // id -> entry {t, ms, id}
  #asc = []; // entries, oldest first: a snapshot arrives in this order, so it only appends

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
    const e = { t, ...keyOf(t) };
    this.#byId.set(t.id, e);
    const at = this.#upper(e);
    if (at === this.#asc.length) this.#asc.push(e);
    else this.#asc.splice(at, 0, e);
    return old ? "changed" : "new";
  }

  /** Drops the ticket with this id; reports whether it was held. */
  remove(id) {
    const e = this.#byId.get(id);
    if (!e) return false;
    this.#removeEntry(e);
    this.#byId.delete(id);
    return true;
  }

  /** Returns the i-th ticket in display order (0 is the newest). */
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
    // Entries are unique by id, so the first not less than e is e.
    const i = this.#lower(e);
    if (this.#asc[i] === e) this.#asc.splice(i, 1);
  }

  #lower(e) {
    let lo = 0, hi = this.#asc.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (less(this.#asc[mid], e)) lo = mid + 1; else hi = mid;
    }
    return lo;
  }

  #upper(e) {
    const a = this.#asc;
    if (a.length === 0 || !less(e, a[a.length - 1])) return a.length;
    let lo = 0, hi = a.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (less(e, a[mid])) hi = mid; else lo = mid + 1;
    }
    return lo;
  }
}
