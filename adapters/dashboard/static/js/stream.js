// TicketStream is the page's client of ticketstream's WebSocket protocol
// (see the README's "WebSocket protocol"): it subscribes with a filter,
// follows the subscription's cursor message by message, and after any
// disconnect reconnects with backoff and resumes from that cursor, so the
// page catches up without reloading and without a duplicate row.
//
// The token travels only as a WebSocket subprotocol ("bearer.<token>"),
// never in the URL, where proxies and servers log it.

export const PROTOCOL = "ticketstream.v1";

const FIRST_DELAY_MS = 250;
const MAX_DELAY_MS = 15_000;

/** Close codes after which reconnecting with the same settings cannot help. */
const FINAL = new Set([1003, 1008, 1009]);

export class TicketStream {
  #h;
  #ws = null;
  #token = "";
  #query = "";
  #cursor = ""; // of the last message applied; "" starts afresh
  #sub = 0; // the subscription whose messages count, on this socket
  #attempt = 0;
  #timer = 0;
  #running = false;

  /**
   * handlers: {
   *   state(name, detail)   "connecting" | "loading" | "live" | "reconnecting" | "auth" | "error"
   *   reset(reason)         drop every ticket shown: a new filter, or a resync
   *   snapshot(msg), end(msg), changes(msg), counts(msg)
   *   probe(): Promise<"ok"|"auth"|"error">  asked when a socket could not be opened
   * }
   */
  constructor(handlers) {
    this.#h = handlers;
    addEventListener("online", () => { if (this.#running && !this.#ws) this.#connectNow(); });
  }

  /** The cursor of the last message applied ("" before any). */
  get cursor() { return this.#cursor; }

  /**
   * Starts streaming query (a filter's query string) with token ("" for
   * none). Started again with the same filter — after signing in anew — it
   * resumes from its cursor rather than reloading.
   */
  start(token, query) {
    this.stop();
    if (query !== this.#query) {
      this.#cursor = "";
      this.#h.reset("filter");
    }
    this.#token = token;
    this.#query = query;
    this.#running = true;
    this.#attempt = 0;
    this.#connect();
  }

  /**
   * Replaces the filter: a fresh subscription on the open socket, or on a
   * new one — also after the stream stopped on a refused filter.
   */
  setQuery(query, token = this.#token) {
    this.#token = token;
    this.#query = query;
    this.#cursor = "";
    this.#h.reset("filter");
    if (this.#ws && this.#ws.readyState === WebSocket.OPEN) {
      this.#sub++;
      this.#ws.send(JSON.stringify({ type: "subscribe", query }));
      this.#h.state("loading");
      return;
    }
    this.#running = true;
    this.#attempt = 0;
    this.#connectNow();
  }

  /** Closes the socket and stops reconnecting. */
  stop() {
    this.#running = false;
    this.#drop();
  }

  #connectNow() {
    this.#drop();
    this.#connect();
  }

  /** Cancels a pending reconnect and closes the socket without reacting to its close. */
  #drop() {
    clearTimeout(this.#timer);
    const ws = this.#ws;
    if (!ws) return;
    this.#ws = null;
    ws.onclose = ws.onmessage = ws.onopen = null;
    ws.close(1000);
  }

  #url() {
    const u = new URL("/v1/stream", location.href);
    u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
    const params = new URLSearchParams(this.#query);
    if (this.#cursor) params.set("cursor", this.#cursor);
    u.search = params.toString();
    return u;
  }

  #connect() {
    const protocols = [PROTOCOL];
    if (this.#token) protocols.push("bearer." + this.#token);
    let ws;
    try {
      ws = new WebSocket(this.#url(), protocols);
    } catch (err) {
      this.#h.state("error", `cannot open a socket: ${err.message}`);
      return;
    }
    this.#ws = ws;
    this.#sub = 1; // each socket numbers its subscriptions from 1
    let opened = false;
    this.#h.state(this.#cursor ? "reconnecting" : "connecting", this.#cursor ? "resuming" : "");
    ws.onopen = () => {
      opened = true;
      this.#h.state("loading", this.#cursor ? "catching up" : "");
    };
    ws.onmessage = (ev) => {
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        ws.close(1003, "not JSON");
        return;
      }
      if (msg.sub !== this.#sub) return; // a replaced subscription's leftovers
      this.#attempt = 0;
      this.#apply(msg);
    };
    ws.onclose = (ev) => {
      if (this.#ws !== ws) return;
      this.#ws = null;
      this.#closed(ev.code, ev.reason, opened);
    };
  }

  #apply(msg) {
    switch (msg.type) {
      case "snapshot": this.#h.snapshot(msg); break;
      case "end": this.#h.end(msg); this.#h.state("live"); break;
      case "changes": this.#h.changes(msg); break;
      case "counts": this.#h.counts(msg); this.#h.state("live"); break;
      case "resync":
        // The cursor cannot be resumed: what is shown may have gaps. A
        // fresh snapshot follows on this subscription.
        this.#h.reset("resync");
        this.#h.state("loading", "reloading");
        this.#cursor = ""; // never resume from the refused cursor again; the message's own follows
        break;
      default: return; // unknown messages are ignored: the server may add some
    }
    if (msg.cursor) this.#cursor = msg.cursor;
  }

  async #closed(code, reason, opened) {
    if (!this.#running) return;
    if (code === 1008 && /expired/i.test(reason)) {
      this.#running = false;
      this.#h.state("auth", "Your token has expired: enter a new one.");
      return;
    }
    if (FINAL.has(code)) {
      this.#running = false;
      this.#h.state("error", reason || `closed with code ${code}`);
      return;
    }
    if (!opened) {
      // A refused upgrade shows up as 1006 with no status: ask the server why.
      const why = await this.#h.probe();
      if (why !== "ok") {
        this.#running = false;
        return; // probe has shown the sign-in form or the reason
      }
      if (!this.#running) return;
    }
    const delay = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** this.#attempt) * (0.8 + 0.4 * Math.random());
    this.#attempt++;
    this.#h.state("reconnecting", `retrying in ${Math.ceil(delay / 1000)} s`);
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#connect(), delay);
  }
}
