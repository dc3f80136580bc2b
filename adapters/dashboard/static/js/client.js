// A client of ticketstream's WebSocket protocol, as one ES module with no
// dependencies, for browsers and Node 20 or later. It subscribes with a
// filter, keeps the view — the tickets of the filter as they are now, and
// the counts the server pushes — follows the cursor of the last message it
// applied, and after any disconnect reconnects with exponential backoff and
// jitter and resumes from that cursor: the view catches up with what it
// missed, without a new snapshot and without a duplicate. A `resync` answer
// drops the view for the fresh snapshot that follows.
//
// A filter with window=N (and sort=, as "status=open&sort=-priority&window=200")
// asks for a live window instead: the first N tickets of the filter in that
// order, kept exact by the server. The view then holds them in order too
// (view.rows); a window has no cursor, so after a disconnect it is asked for
// afresh, and the rows held are replaced when the new window's first message
// arrives.
//
//   import { connect } from "./client.js"; // served at /ui/js/client.js
//   const client = connect({ url: "http://localhost:8080", filter: "status=open" });
//   client.onView = (view) => console.log(view.tickets.size, view.counts?.total);
//
// The token travels only as a WebSocket subprotocol ("bearer.<token>"),
// never in the URL, where proxies and servers log it. Types: client.d.ts.

/** The subprotocol the server speaks. */
export const PROTOCOL = "ticketstream.v1";

/** Close codes after which reconnecting with the same settings cannot help. */
const FINAL = new Set([1003, 1008, 1009]);

const OPEN = 1; // WebSocket.OPEN, whichever implementation is used

/** The least time between two subscribe messages on one socket, in ms. */
const SUBSCRIBE_GAP = 250;

/**
 * View is what a dashboard shows: the tickets of its filter by id, the
 * counts the server pushed, and the cursor of the last message applied.
 */
export class View {
  /** @type {Map<number, object>} the tickets, by id */
  tickets = new Map();
  /** The server's counts of the tickets held ({total, status, team}), or null while unknown. */
  counts = null;
  /** The cursor of the last message applied: resume from here ("" starts afresh). */
  cursor = "";
  /**
   * Whether the snapshot has ended: the view holds every ticket of the
   * filter. For a window: whether its rows and the filter's counts came.
   */
  complete = false;
  /** The size of the live window asked for (window=N), or 0 for the whole filter. */
  window = 0;
  /** A window's tickets in its order (index 0 first), or null for the whole filter. */
  rows = null;

  /** Drops every ticket and count; the cursor too unless keepCursor. */
  clear(keepCursor = false) {
    this.tickets.clear();
    if (this.rows) this.rows = [];
    this.counts = null;
    this.complete = false;
    if (!keepCursor) this.cursor = "";
  }

  /**
   * Makes the view hold a live window of n rows (0: the whole filter),
   * dropping what it holds if that changes.
   */
  setWindow(n) {
    n = Number(n) || 0;
    if (n === this.window) return;
    this.window = n;
    this.rows = n > 0 ? [] : null;
    this.clear();
  }

  /**
   * Applies one server message of the current subscription. Unknown types
   * are ignored: the server may add some. Returns whether it was applied.
   */
  apply(msg) {
    switch (msg.type) {
      case "snapshot":
        for (const t of msg.tickets ?? []) this.tickets.set(t.id, t);
        break;
      case "end":
        this.complete = true;
        if (msg.counts) this.#setCounts(msg.counts);
        break;
      case "changes":
        if (this.rows) {
          this.#applyWindow(msg);
          break;
        }
        for (const c of msg.changes ?? []) {
          if (c.op === "upsert" && c.ticket) this.tickets.set(c.ticket.id, c.ticket);
          else if (c.op === "remove") this.tickets.delete(c.id);
        }
        if (msg.counts && this.counts) this.#mergeCounts(msg.counts); // deltas before whole counts have no base
        break;
      case "counts":
        this.#setCounts(msg.counts);
        break;
      case "resync":
        // The cursor cannot be resumed: what is held may have gaps. Never
        // resume from the refused cursor again; this message's own follows.
        this.clear();
        break;
      default:
        return false;
    }
    if (msg.cursor) this.cursor = msg.cursor;
    return true;
  }

  /**
   * A window's operations, in order: upsert drops the ticket if held and
   * inserts it at its index, remove drops it, clear drops every row. Its
   * first counts are whole (of the filter), later ones what moved.
   */
  #applyWindow(msg) {
    const rows = this.rows;
    const drop = (id) => {
      if (!this.tickets.delete(id)) return;
      const i = rows.findIndex((t) => t.id === id); // at most window rows, 1000
      if (i >= 0) rows.splice(i, 1);
    };
    for (const c of msg.changes ?? []) {
      if (c.op === "upsert" && c.ticket) {
        drop(c.ticket.id);
        rows.splice(Math.min(Math.max(0, c.index ?? rows.length), rows.length), 0, c.ticket);
        this.tickets.set(c.ticket.id, c.ticket);
      } else if (c.op === "remove") {
        drop(c.id);
      } else if (c.op === "clear") {
        rows.length = 0;
        this.tickets.clear();
      }
    }
    if (msg.counts) {
      if (this.counts) this.#mergeCounts(msg.counts);
      else this.#setCounts(msg.counts);
      this.complete = true;
    }
  }

  #setCounts(c) {
    this.counts = { total: c.total ?? 0, status: { ...c.status }, team: { ...c.team } };
  }

  /** Merges counts that moved: a bucket given 0 is empty and goes. */
  #mergeCounts(c) {
    const counts = this.counts;
    if (c.total !== undefined) counts.total = c.total;
    for (const [k, v] of Object.entries(c.status ?? {})) if (v) counts.status[k] = v; else delete counts.status[k];
    for (const [k, v] of Object.entries(c.team ?? {})) if (v) counts.team[k] = v; else delete counts.team[k];
  }
}

/**
 * Opens a subscription and keeps it: connect({url, filter, token}) returns
 * a started TicketStreamClient.
 */
export function connect(options = {}) {
  const client = new TicketStreamClient(options);
  client.start();
  return client;
}

/**
 * TicketStreamClient keeps one subscription of one server: its socket, its
 * view, and its reconnects. Its status is "connecting", "loading" (the
 * snapshot, or what was missed, is arriving), "live", "reconnecting",
 * "auth" (the token is missing, refused or expired: stopped), "error"
 * (the server refused the filter or a message: stopped) or "closed".
 */
export class TicketStreamClient {
  /** The view: tickets, counts, cursor. */
  view = new View();
  /** Called after each message is applied to the view: (view, msg). */
  onView = null;
  /** Called when the status changes: (status, detail). */
  onStatus = null;
  /**
   * Called when the view was dropped: (reason) — "filter" (a new filter),
   * "resync", or "window" (a window asked for afresh after a reconnect; its
   * new rows follow).
   */
  onReset = null;

  #WebSocket;
  #fetch;
  #probe;
  #base;
  #first;
  #max;
  #ws = null;
  #token;
  #filter;
  #sub = 0; // the subscription whose messages count, on this socket
  #lastSubscribe = -Infinity; // when the last subscribe message went out
  #subscribeTimer = 0; // a subscribe waiting for SUBSCRIBE_GAP to pass
  #attempt = 0;
  #timer = 0;
  #running = false;
  #status = "closed";
  #detail = "";
  #stale = false; // a window's rows are from a socket that closed: the next window replaces them
  #held = true; // options.held: resume saying what the view holds (held= and held messages)
  #claim = true; // with #held: off for one attempt after a refused upgrade or a "held" close
  #online = () => { if (this.#running && !this.#ws) this.#connectNow(); };

  /**
   * options: url (the server, http(s):// or ws(s)://; in a browser the
   * page's address by default), filter (a query string such as
   * "status=open&team=billing"), token, cursor (resume from it), WebSocket
   * and fetch (implementations, when the global ones are missing), held
   * (false: resume without saying what the view holds, so that the server
   * reads it back; on by default),
   * backoff ({first, max} in ms), probe, onView, onStatus, onReset.
   */
  constructor(options = {}) {
    const base = options.url ?? globalThis.location?.href;
    if (!base) throw new TypeError("ticketstream: options.url is required outside a browser");
    this.#base = base;
    this.#WebSocket = options.WebSocket ?? globalThis.WebSocket;
    if (!this.#WebSocket) {
      throw new TypeError("ticketstream: no WebSocket: pass options.WebSocket (Node 20: run with --experimental-websocket, or use the ws package)");
    }
    this.#fetch = options.fetch ?? globalThis.fetch?.bind(globalThis);
    this.#probe = options.probe ?? ((client) => client.#whyRefused());
    this.#filter = normalize(options.filter);
    this.view.setWindow(windowOf(this.#filter));
    this.#token = options.token ?? "";
    this.#held = options.held !== false;
    this.view.cursor = this.view.window ? "" : options.cursor ?? ""; // a window never resumes
    this.#first = options.backoff?.first ?? 250;
    this.#max = options.backoff?.max ?? 15_000;
    this.onView = options.onView ?? null;
    this.onStatus = options.onStatus ?? null;
    this.onReset = options.onReset ?? null;
  }

  /** The tickets of the filter, by id. */
  get tickets() { return this.view.tickets; }
  /** A window's tickets in order, or null when the filter has no window=. */
  get rows() { return this.view.rows; }
  /** The server's counts of the tickets held, or null while unknown. */
  get counts() { return this.view.counts; }
  /** The cursor of the last message applied ("" before any). */
  get cursor() { return this.view.cursor; }
  /** The filter, as a query string. */
  get filter() { return this.#filter; }
  /** The status, as onStatus last reported it, or "closed" after close(). */
  get status() { return this.#status; }
  /** What goes with the status: a reason, or what is happening. */
  get detail() { return this.#detail; }

  /**
   * Starts streaming, or starts again after close() or a refusal: from the
   * cursor, keeping the view, unless settings give a new filter (the view
   * is then dropped). settings: {filter, token}, each optional.
   */
  start(settings = {}) {
    this.close();
    if (settings.filter !== undefined && normalize(settings.filter) !== this.#filter) {
      this.#filter = normalize(settings.filter);
      this.view.setWindow(windowOf(this.#filter));
      this.#reset("filter");
    }
    if (settings.token !== undefined) this.#token = settings.token;
    this.#running = true;
    this.#attempt = 0;
    globalThis.addEventListener?.("online", this.#online);
    this.#connect();
  }

  /**
   * Replaces the filter and drops the view: a fresh subscription on the
   * open socket, or on a new one — also after a refused filter stopped the
   * client. token, when given, replaces the token too.
   */
  setFilter(filter, token) {
    this.#filter = normalize(filter);
    if (token !== undefined) this.#token = token;
    this.view.setWindow(windowOf(this.#filter));
    this.#reset("filter");
    if (this.#ws && this.#ws.readyState === OPEN) {
      this.#setStatus("loading");
      this.#subscribe();
      return;
    }
    this.#running = true;
    this.#attempt = 0;
    globalThis.addEventListener?.("online", this.#online);
    this.#connectNow();
  }

  /**
   * Sends the current filter as a subscribe message, at most one every
   * SUBSCRIBE_GAP: a user clicking through filters must not run into the
   * server's limit on subscribe messages (1008). Until it goes out, the
   * current subscription's messages are ignored — the view was dropped
   * for the new filter — and later calls only change what it will ask.
   */
  #subscribe() {
    if (this.#subscribeTimer) return; // the pending one sends the latest filter
    const wait = this.#lastSubscribe + SUBSCRIBE_GAP - Date.now();
    if (wait > 0) {
      this.#subscribeTimer = setTimeout(() => {
        this.#subscribeTimer = 0;
        this.#subscribe();
      }, wait);
      return;
    }
    if (!this.#ws || this.#ws.readyState !== OPEN) return; // a new socket asks for the filter itself
    this.#lastSubscribe = Date.now();
    this.#sub++;
    this.#ws.send(JSON.stringify({ type: "subscribe", query: this.#filter }));
  }

  /** Closes the socket and stops reconnecting; the view and its cursor stay, for start(). */
  close() {
    if (this.#running) this.#status = "closed"; // a refusal's status stays, to be read
    this.#running = false;
    globalThis.removeEventListener?.("online", this.#online);
    this.#drop();
  }

  #reset(reason) {
    this.#stale = false;
    this.view.clear();
    this.onReset?.(reason);
  }

  #setStatus(status, detail = "") {
    this.#status = status;
    this.#detail = detail;
    this.onStatus?.(status, detail);
  }

  #connectNow() {
    this.#drop();
    this.#connect();
  }

  /** Cancels a pending reconnect and closes the socket without reacting to its close. */
  #drop() {
    clearTimeout(this.#timer);
    clearTimeout(this.#subscribeTimer);
    this.#subscribeTimer = 0;
    const ws = this.#ws;
    if (!ws) return;
    this.#ws = null;
    ws.onclose = ws.onmessage = ws.onopen = ws.onerror = null;
    try {
      ws.close(1000);
    } catch {
      // already closing
    }
  }

  /** The server's URL for path, with the scheme s (http or ws). */
  #at(path, s) {
    const u = new URL(path, this.#base);
    const secure = u.protocol === "https:" || u.protocol === "wss:";
    u.protocol = s + (secure ? "s:" : ":");
    u.hash = "";
    return u;
  }

  #url() {
    const u = this.#at("/v1/stream", "ws");
    const params = new URLSearchParams(this.#filter);
    if (this.view.cursor) {
      params.set("cursor", this.view.cursor);
      if (this.#held && this.#claim) params.set("held", String(this.view.tickets.size)); // sent on open: the server need not read them back
    }
    u.search = params.toString();
    return u.href;
  }

  #connect() {
    const protocols = [PROTOCOL];
    if (this.#token) protocols.push("bearer." + this.#token);
    let ws;
    try {
      ws = new this.#WebSocket(this.#url(), protocols);
    } catch (err) {
      this.#running = false;
      this.#setStatus("error", `cannot open a socket: ${err.message}`);
      return;
    }
    this.#ws = ws;
    this.#sub = 1; // each socket numbers its subscriptions from 1
    let opened = false;
    const resuming = this.view.cursor !== "";
    const reopening = this.view.window > 0 && (this.view.rows.length > 0 || this.view.counts !== null);
    if (reopening) this.#stale = true;
    this.#setStatus(resuming || reopening ? "reconnecting" : "connecting", resuming ? "resuming" : reopening ? "reopening the window" : "");
    const held = resuming && this.#held && this.#claim ? heldMessages(this.view.tickets) : [];
    ws.onopen = () => {
      opened = true;
      this.#claim = true;
      for (const m of held) ws.send(m);
      this.#setStatus("loading", this.view.cursor ? "catching up" : "");
    };
    ws.onmessage = (ev) => {
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        ws.close(1003, "not JSON");
        return;
      }
      if (msg.sub !== this.#sub || this.#subscribeTimer) return; // a replaced subscription's leftovers
      this.#attempt = 0;
      this.#apply(msg);
    };
    ws.onclose = (ev) => {
      if (this.#ws !== ws) return;
      this.#ws = null;
      this.#closed(ev.code, ev.reason, opened);
    };
    ws.onerror = () => {
      // A socket that never opened: browsers fire close (1006) next, but
      // Node 20's WebSocket fires nothing more, so this is the close.
      if (opened || this.#ws !== ws) return;
      this.#ws = null;
      this.#closed(1006, "", false);
    };
  }

  #apply(msg) {
    if (this.#stale) this.#reset("window"); // the window comes whole again: drop the old one's rows only now, not while the socket was down
    if (!this.view.apply(msg)) return;
    if (msg.type === "resync") {
      this.onReset?.("resync");
      this.#setStatus("loading", "reloading");
    }
    this.onView?.(this.view, msg);
    if (msg.type === "end" || msg.type === "counts" || (this.view.window && this.view.complete && this.#status !== "live")) this.#setStatus("live");
  }

  async #closed(code, reason, opened) {
    if (!this.#running) return;
    if (code === 1008 && /expired/i.test(reason)) {
      this.#stopWith("auth", "Your token has expired: enter a new one.");
      return;
    }
    if (/^held\b/.test(reason ?? "")) {
      // The server would not take the held tickets (too slow to send, or
      // refused): resume once without them — it reads the view back.
      this.#claim = false;
    } else if (FINAL.has(code)) {
      this.#stopWith("error", reason || `closed with code ${code}`);
      return;
    }
    if (!opened) {
      // A refused upgrade shows up as 1006 with no status: ask the server why.
      const why = await this.#probe(this);
      if (why !== "ok") {
        this.#running = false;
        return; // the probe has reported the reason
      }
      if (!this.#running) return;
      // The filter and token are fine: the refusal may be of held=, by a
      // server older than it (a rolling deploy). The next attempt resumes
      // without it; the server then reads the view back.
      this.#claim = false;
    }
    const delay = Math.min(this.#max, this.#first * 2 ** this.#attempt) * (0.8 + 0.4 * Math.random());
    this.#attempt++;
    // The server's reason — "server busy: its memory for live views is
    // spent", "client too slow", "server shutting down" — says why.
    const retry = `retrying in ${Math.ceil(delay / 1000)} s`;
    this.#setStatus("reconnecting", reason ? `${reason}; ${retry}` : retry);
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#connect(), delay);
  }

  #stopWith(status, detail) {
    this.#running = false;
    globalThis.removeEventListener?.("online", this.#online);
    this.#setStatus(status, detail);
  }

  /**
   * The default probe: asks the REST API why a socket could not be opened.
   * A refused token stops the client with "auth", a refused filter with
   * "error"; anything else ("ok", also a server that is down) retries.
   */
  async #whyRefused() {
    if (!this.#fetch) return "ok";
    const headers = this.#token ? { Authorization: `Bearer ${this.#token}` } : {};
    const ask = async (path, search) => {
      const u = this.#at(path, "http");
      u.search = search;
      try {
        const resp = await this.#fetch(u.href, { headers, cache: "no-store" });
        const body = resp.ok ? null : await resp.json().catch(() => ({}));
        if (resp.ok) await resp.body?.cancel();
        return { status: resp.status, message: body?.error?.message };
      } catch {
        return { status: 0 }; // the server is unreachable: keep retrying
      }
    };
    const session = await ask("/v1/session", "");
    if (!this.#running) return "ok";
    if (session.status === 401) {
      this.#stopWith("auth", this.#token ? `The token was refused: ${session.message ?? "not accepted"}.` : "This server needs an access token.");
      return "auth";
    }
    const q = new URLSearchParams(this.#filter);
    q.delete("window"); // kept by the socket only: REST refuses it
    q.set("limit", "1");
    const probe = await ask("/v1/tickets", q.toString());
    if (!this.#running) return "ok";
    if (probe.status === 400 || probe.status === 403) {
      this.#stopWith("error", probe.message ?? "the filter was refused");
      return "error";
    }
    return "ok";
  }
}

/**
 * The window=N of a filter, or 0. (A sort without a window sorts a whole
 * filter's snapshot.)
 */
/** The statuses in the order of the held messages' status index. */
const HELD_STATUSES = ["new", "open", "pending", "on_hold", "solved", "closed"];
/** The most a held message may take, in bytes. */
const HELD_MESSAGE_BYTES = 4096;
const HELD_FRAME = '{"type":"held","teams":[],"tickets":""}'.length;

/**
 * The held messages that tell the server, on a resume, which tickets the
 * view holds — each id with the team and status it was last sent with — so
 * that it need not read the filter back (docs/protocol.md, "Resuming"). In
 * id order, each at most HELD_MESSAGE_BYTES; the tickets of each are the
 * unpadded base64url of three varints a ticket: the id less the previous
 * one's (zigzag), the team's index in teams, the status's index.
 */
export function heldMessages(tickets) {
  const ids = [...tickets.keys()].sort((a, b) => a - b);
  const utf8 = new TextEncoder();
  const out = [];
  let i = 0;
  while (i < ids.length) {
    const teams = [];
    const teamIndex = new Map();
    const bytes = [];
    let teamBytes = 0;
    let prev = 0;
    for (; i < ids.length; i++) {
      const t = tickets.get(ids[i]);
      let team = teamIndex.get(t.team);
      let addTeam = 0;
      if (team === undefined) {
        addTeam = utf8.encode(JSON.stringify(t.team)).length + 1;
        team = teams.length;
      }
      const d = ids[i] - prev;
      const entry = [];
      pushVarint(entry, d >= 0 ? 2 * d : -2 * d - 1);
      pushVarint(entry, team);
      entry.push(Math.max(0, HELD_STATUSES.indexOf(t.status)));
      const size = HELD_FRAME + teamBytes + addTeam + Math.ceil(((bytes.length + entry.length) * 4) / 3);
      if (size > HELD_MESSAGE_BYTES && bytes.length > 0) break;
      if (team === teams.length) {
        teams.push(t.team);
        teamIndex.set(t.team, team);
      }
      teamBytes += addTeam;
      bytes.push(...entry);
      prev = ids[i];
    }
    out.push(JSON.stringify({ type: "held", teams, tickets: base64url(bytes) }));
  }
  return out;
}

/** Appends n (0 <= n < 2^53) as a uvarint. */
function pushVarint(out, n) {
  while (n >= 128) {
    out.push((n % 128) + 128);
    n = Math.floor(n / 128);
  }
  out.push(n);
}

/** Unpadded base64url of bytes. */
function base64url(bytes) {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function windowOf(filter) {
  const params = new URLSearchParams(filter);
  const n = Number(params.get("window") ?? 0);
  return Number.isInteger(n) && n > 0 ? n : 0;
}

/** A filter as a query string without its "?": "" for none. */
function normalize(filter) {
  if (filter === undefined || filter === null) return "";
  if (typeof filter === "object") return new URLSearchParams(filter).toString();
  return String(filter).replace(/^\?/, "");
}
