// TypeScript declarations of client.js, ticketstream's WebSocket client.

/** The subprotocol the server speaks. */
export declare const PROTOCOL: "ticketstream.v1";

export type Status = "new" | "open" | "pending" | "on_hold" | "solved" | "closed";
export type Priority = "urgent" | "high" | "normal" | "low";

/** A ticket, as the server sends it. */
export interface Ticket {
  id: number;
  team: string;
  subject: string;
  status: Status;
  priority: Priority;
  requester: string;
  /** "" when unassigned. */
  assignee: string;
  tags: string[] | null;
  /** RFC 3339 times. */
  created_at: string;
  updated_at: string;
}

/**
 * The server's counts of the tickets a view holds. Whole in end and counts
 * messages; in changes messages only what moved (0: the bucket is empty).
 */
export interface Counts {
  total: number;
  status: Partial<Record<Status, number>>;
  team: Record<string, number>;
}

export type Change =
  | { op: "upsert"; ticket: Ticket }
  | { op: "remove"; id: number };

/**
 * A live window's operation (a filter with window=N): upsert drops the
 * ticket if held and inserts it at index (0 is the top); remove drops it;
 * clear drops every row, and the window follows anew.
 */
export type WindowChange =
  | { op: "upsert"; index: number; ticket: Ticket }
  | { op: "remove"; id: number }
  | { op: "clear" };

/** Every server message names its subscription (sub, from 1 on each socket) and the cursor once it is applied. */
interface Base {
  sub: number;
  cursor: string;
}
export interface SnapshotMessage extends Base { type: "snapshot"; seq: number; rows: number; tickets: Ticket[] }
export interface EndMessage extends Base { type: "end"; rows: number; chunks: number; counts?: Counts }
export interface ChangesMessage extends Base { type: "changes"; changes: Change[]; counts?: Partial<Counts> }
/** A live window's changes: no cursor (a window never resumes); counts are of the whole filter, whole in the first message that has them. */
export interface WindowChangesMessage { type: "changes"; sub: number; changes: WindowChange[]; counts?: Partial<Counts> }
export interface CountsMessage extends Base { type: "counts"; counts: Counts }
export interface ResyncMessage extends Base { type: "resync"; reason: string }
export type Message = SnapshotMessage | EndMessage | ChangesMessage | WindowChangesMessage | CountsMessage | ResyncMessage;

/**
 * The client's status. "auth" (a token is missing, refused or expired) and
 * "error" (the server refused the filter or a message) stop the client;
 * start() or setFilter() starts it again.
 */
export type ClientStatus = "connecting" | "loading" | "live" | "reconnecting" | "auth" | "error" | "closed";

/**
 * Why the view was dropped: a new filter, a cursor the server could not
 * resume, or a window asked for afresh after a reconnect (its rows follow).
 */
export type ResetReason = "filter" | "resync" | "window";

/** What a dashboard shows: the tickets of its filter, the counts, and where it stands. */
export declare class View {
  /** The tickets, by id. */
  readonly tickets: Map<number, Ticket>;
  /** The server's counts of the tickets held; null while unknown. */
  counts: Counts | null;
  /** The cursor of the last message applied: resume from here ("" starts afresh). */
  cursor: string;
  /** Whether the snapshot has ended (the view holds every ticket of the filter); for a window, whether its rows and counts came. */
  complete: boolean;
  /** The live window's size (window=N in the filter), or 0 for the whole filter. */
  readonly window: number;
  /** A window's tickets in its order, index 0 first; null without a window. */
  readonly rows: Ticket[] | null;
  /** Drops every ticket and count; the cursor too unless keepCursor. */
  clear(keepCursor?: boolean): void;
  /** Holds a live window of n rows (0: the whole filter), dropping what is held if that changes. */
  setWindow(n: number): void;
  /** Applies one message of the current subscription; false for a type it does not know. */
  apply(msg: Message): boolean;
}

/**
 * A WebSocket constructor: the global one (browsers, Node 22), or another of
 * the same interface (onopen, onmessage, onclose, onerror, send, close), such
 * as the ws package's.
 */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => unknown;

export interface ClientOptions {
  /** The server: http(s):// or ws(s)://. In a browser, the page's address by default. */
  url?: string | URL;
  /**
   * The filter, as a query string ("status=open,pending&team=billing") or its
   * parameters. With window=N (and sort=, as "sort=-priority&window=200")
   * the client holds a live window: see View.rows.
   */
  filter?: string | Record<string, string> | URLSearchParams;
  /** A bearer token, sent as the subprotocol "bearer.<token>". */
  token?: string;
  /** Resume saying what the view holds (held=N and held messages), so the server need not read it back; off by default. */
  held?: boolean;
  /**
   * Resume from this cursor (ignored for a window, which never resumes). Only with the view it belongs to: the server
   * then sends what changed since, and counts and removals that describe
   * the tickets held at the cursor. An empty view with an old cursor shows
   * only what changed, under counts of what it does not hold.
   */
  cursor?: string;
  /** A WebSocket implementation, when there is no global one (Node 20 without --experimental-websocket). */
  WebSocket?: WebSocketConstructor;
  /** A fetch implementation for the default probe; the global one by default. */
  fetch?: typeof fetch;
  /** Reconnect delays in ms: the first (250) doubles up to max (15000), each ±20 %. */
  backoff?: { first?: number; max?: number };
  /**
   * Asked when a socket could not be opened, since a refused upgrade says
   * nothing to a WebSocket: "ok" retries; anything else stops the client,
   * the probe having reported why. The default asks the REST API
   * (GET /v1/session, then /v1/tickets with the filter) and reports a
   * refused token as "auth", a refused filter as "error".
   */
  probe?: (client: TicketStreamClient) => Promise<"ok" | "auth" | "error" | string>;
  onView?: (view: View, msg: Message) => void;
  onStatus?: (status: ClientStatus, detail: string) => void;
  onReset?: (reason: ResetReason) => void;
}

/** Keeps one subscription of one server: its socket, its view and its reconnects. */
export declare class TicketStreamClient {
  constructor(options?: ClientOptions);
  readonly view: View;
  /** Called after each message is applied to the view. */
  onView: ((view: View, msg: Message) => void) | null;
  /** Called when the status changes, with a reason or what is happening. */
  onStatus: ((status: ClientStatus, detail: string) => void) | null;
  /** Called when the view was dropped. */
  onReset: ((reason: ResetReason) => void) | null;
  /** view.tickets */
  readonly tickets: Map<number, Ticket>;
  /** view.rows: a window's tickets in order, or null. */
  readonly rows: Ticket[] | null;
  /** view.counts */
  readonly counts: Counts | null;
  /** view.cursor */
  readonly cursor: string;
  /** The filter, as a query string. */
  readonly filter: string;
  readonly status: ClientStatus;
  readonly detail: string;
  /**
   * Starts, or starts again: from the cursor, keeping the view, unless a
   * new filter is given (the view is then dropped).
   */
  start(settings?: { filter?: ClientOptions["filter"]; token?: string }): void;
  /** Replaces the filter (and the token, if given) and drops the view. */
  setFilter(filter: ClientOptions["filter"], token?: string): void;
  /** Closes the socket and stops reconnecting; the view and cursor stay for start(). */
  close(): void;
}

/** Creates a client and starts it. */
export declare function connect(options?: ClientOptions): TicketStreamClient;

/**
 * The held messages a resuming client sends (held=N with its cursor): the
 * tickets it holds, each within 4096 bytes. The client sends them itself.
 */
export declare function heldMessages(tickets: Map<number, Ticket>): string[];
