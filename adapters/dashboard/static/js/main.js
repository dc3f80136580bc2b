// The dashboard page: filters, sign-in, counts and the live ticket table,
// fed by one TicketStreamClient (client.js), which speaks the protocol and
// keeps the view; the page keeps the tickets in display order and draws.
//
// Sorting: a view of up to PAGE_SORT_MAX tickets is held whole and sorted
// here; a larger one sorted by a column is a live window of the server's
// (its first WINDOW_ROWS rows in that order), in the same order (order.js).
// Which one a view is follows from the filter's total, once counted.

import { DEFAULT_SORT, TicketSet, WindowRows } from "./tickets.js";
import { TicketStreamClient } from "./client.js";
import { VirtualTable } from "./table.js";
import { count, label } from "./format.js";
import { formatSort, parseSort } from "./order.js";
import { loadSLA } from "./sla.js";
import { nextSort, renderHeaders, sortText } from "./headers.js";

const PAGE_SORT_MAX = 5000; // tickets sorted in the page; beyond, a server window
const WINDOW_ROWS = 200;

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = "ticketstream.token";
const FILTERS = ["q", "status", "priority", "team", "assignee"];
const SELECTS = FILTERS.filter((name) => name !== "q");
const STATUSES = ["new", "open", "pending", "on_hold", "solved", "closed"];

const tickets = new TicketSet();
let sortKeys = []; // [{field, desc}] from the address; [] is the default order
let windowed = false; // whether the view is a server window
let decided = false; // whether this subscription's total chose page sort or window
let switching = false; // a switch between page sort and window is under way
const knownTeams = new Set();
const knownAssignees = new Set();
let token = "";

// What the browser tests (and a curious operator, in the console) read:
// timings of the current subscription's snapshot, and the rows held.
// topChanges: how often the first row shown changed while the snapshot
// loaded (it comes in the page's order, so once).
const stats = { started: 0, firstRow: 0, complete: 0, rows: 0, topChanges: 0, longestTaskMs: 0, longTasksObserved: false };
window.ticketstream = {
  stats,
  state: () => $("conn").dataset.state,
  size: () => source().size,
  ids: () => source().ids(),
  order: () => Array.from({ length: source().size }, (_, i) => source().at(i).id),
  ticket: (id) => source().get(id),
  counts: () => stream.counts,
  sort: () => formatSort(sortKeys),
  windowed: () => windowed,
  newAbove: () => table.newAbove,
};
if ("PerformanceObserver" in window && PerformanceObserver.supportedEntryTypes?.includes("longtask")) {
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) stats.longestTaskMs = Math.max(stats.longestTaskMs, e.duration);
  }).observe({ type: "longtask", buffered: true });
  stats.longTasksObserved = true; // tasks over 50 ms are reported; none means none blocked the page that long
}

const table = new VirtualTable($("table-wrap"), $("tickets"), $("rows"), tickets, (n, rendered) => {
  $("shown").textContent = count(n);
  $("shown-label").textContent = n === 1 ? "ticket" : "tickets";
  renderWindowNote();
  if (n > 0 && rendered > 0 && !stats.firstRow) stats.firstRow = performance.now() - stats.started;
}, (n) => {
  const b = $("new-rows");
  b.hidden = n === 0;
  b.textContent = `${count(n)} new — show`;
});
$("new-rows").addEventListener("click", () => table.toTop());

/** What the table shows: the whole filter held here, or the server's window. */
function source() { return windowed ? windowRows : tickets; }

// ---- state line ----------------------------------------------------------

const STATE_TEXT = {
  connecting: "Connecting…",
  loading: "Loading…",
  live: "Live",
  reconnecting: "Reconnecting…",
  auth: "Sign-in needed",
  error: "Error",
};

function setState(name, detail = "") {
  const el = $("conn");
  el.dataset.state = name;
  el.textContent = STATE_TEXT[name] + (detail ? ` — ${detail}` : "");
  if (name === "auth") showSignIn(detail);
}

// ---- counts ----------------------------------------------------------------

function renderCounts() {
  const counts = stream.counts; // {total, status:{}, team:{}} as the server last told, or null
  const ul = $("counts");
  if (!counts) {
    ul.replaceChildren();
    return;
  }
  // Each count is a button that shows only its status (and, pressed, every
  // status again).
  const current = $("f-status").value;
  const items = STATUSES.filter((s) => counts.status?.[s]).map((s) => {
    const li = document.createElement("li");
    li.dataset.status = s;
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.status = s;
    button.setAttribute("aria-pressed", String(current === s));
    button.append(`${label(s)} `);
    const b = document.createElement("b");
    b.textContent = count(counts.status[s]);
    button.append(b);
    li.append(button);
    return li;
  });
  ul.replaceChildren(...items);
  for (const team of Object.keys(counts.team ?? {})) knownTeams.add(team);
  refreshOptions();
}

// ---- filter options --------------------------------------------------------

let allowedTeams = null; // null: every team

function fillSelect(select, values, fixed) {
  const current = select.value;
  const opts = [...fixed];
  for (const v of [...values].sort()) opts.push([v, v]);
  if (current && !opts.some(([v]) => v === current)) opts.push([current, current]);
  if (select.options.length === opts.length && opts.every(([v], i) => select.options[i].value === v)) return;
  select.replaceChildren(...opts.map(([v, text]) => new Option(text, v)));
  select.value = current;
}

function refreshOptions() {
  fillSelect($("f-team"), allowedTeams ?? knownTeams, [["", "Any team"]]);
  fillSelect($("f-assignee"), knownAssignees, [["", "Anyone"], ["-", "Unassigned"]]);
}

// ---- filters <-> query -------------------------------------------------------

function queryFromFilters() {
  const p = new URLSearchParams();
  for (const name of FILTERS) {
    const v = $("f-" + name).value;
    if (!v) continue;
    if (name === "q" && !v.trim()) continue;
    p.set(name, name === "assignee" && v === "-" ? "" : name === "q" ? searchText(v) : v);
  }
  // Commas separate values (status=new,open) and are never part of one:
  // kept readable in the address.
  return p.toString().replaceAll("%2C", ",");
}

// The server takes a search of at most 100 bytes of UTF-8 (maxlength
// counts UTF-16 units): a longer one is cut, at a character, rather than
// refused.
const utf8 = new TextEncoder();
function searchText(v) {
  let chars = Array.from(v.trim());
  while (utf8.encode(chars.join("")).length > 100) chars.pop();
  return chars.join("");
}

/** The address's query: the filters and the sort. */
function addressQuery() {
  const p = new URLSearchParams(queryFromFilters());
  if (sortKeys.length) p.set("sort", formatSort(sortKeys));
  return p.toString().replaceAll("%2C", ",");
}

/**
 * What the socket is asked: the filters, and the order the page shows —
 * a whole filter's snapshot comes in it, so that the first rows on screen
 * are the right ones at once and never reshuffle while the rest loads —
 * and for a window its size.
 */
function socketQuery() {
  const p = new URLSearchParams(queryFromFilters());
  p.set("sort", formatSort(sortKeys) || "-updated_at");
  if (windowed) p.set("window", String(WINDOW_ROWS));
  return p.toString().replaceAll("%2C", ",");
}

/** Chooses page sort or a window for a new subscription: a window while the size is unknown. */
function chooseView(total = null) {
  setWindowed(sortKeys.length > 0 && (total === null || total > PAGE_SORT_MAX));
  tickets.setOrder(formatSort(sortKeys) || DEFAULT_SORT);
}

function setWindowed(w) {
  if (w === windowed) return;
  windowed = w;
  table.setSource(source());
}

function filtersFromLocation() {
  const p = new URLSearchParams(location.search);
  try {
    sortKeys = parseSort(p.get("sort") ?? "");
  } catch {
    // A link with a sort this page does not know: the default order, and
    // the address no longer claims the other.
    sortKeys = [];
    p.delete("sort");
    const rest = p.toString();
    history.replaceState(null, "", location.pathname + (rest ? "?" + rest : "") + location.hash);
  }
  $("f-q").value = p.get("q") ?? "";
  for (const name of SELECTS) {
    if (!p.has(name)) continue;
    let v = p.get(name);
    if (name === "assignee" && v === "") v = "-";
    if (name === "team" && v) knownTeams.add(v);
    if (name === "assignee" && v && v !== "-") knownAssignees.add(v);
    refreshOptions();
    const select = $("f-" + name);
    // A link may carry several values (status=open,pending): offer them as
    // one choice rather than silently dropping the filter.
    if (![...select.options].some((o) => o.value === v)) select.add(new Option(v.split(",").map(label).join(", "), v));
    select.value = v;
  }
}

function onFilterChange() {
  const q = queryFromFilters();
  // The filter lives in the address, so a reload or a shared link keeps it;
  // the token never does.
  const address = addressQuery();
  history.replaceState(null, "", address ? `?${address}` : location.pathname);
  startTimer();
  chooseView();
  table.toTop();
  stream.setFilter(socketQuery(), token);
}

// ---- sorting -------------------------------------------------------------------

function setSort(field) {
  sortKeys = nextSort(sortKeys, field);
  const address = addressQuery();
  history.replaceState(null, "", `?${address}`);
  renderSort();
  const total = stream.counts?.total ?? null;
  if (!windowed && (total === null || total <= PAGE_SORT_MAX)) {
    // Held whole: sorted here at once (a view still loading is checked
    // against PAGE_SORT_MAX when its total comes).
    tickets.setOrder(formatSort(sortKeys));
    table.toTop();
    return;
  }
  startTimer();
  setWindowed(true);
  table.toTop();
  stream.setFilter(socketQuery(), token);
}

function renderSort() {
  renderHeaders($("tickets"), sortKeys);
  renderWindowNote();
}

/** "first 200 of 48,120 by priority, descending" while the view is a window. */
function renderWindowNote() {
  const note = $("window-note");
  const total = stream?.counts?.total;
  note.hidden = !windowed || total === undefined;
  if (!note.hidden) note.textContent = `— a live window: the first ${count(windowRows.size)} of ${count(total)} by ${sortText(sortKeys)}`;
}

/**
 * Once a subscription's total is known: a view sorted here that is too
 * large becomes a window, and a window small enough is held whole. Once per
 * subscription, after the message that brought the total.
 */
function decide() {
  if (!stream.counts || switching) return;
  const total = stream.counts.total;
  let want = total > PAGE_SORT_MAX;
  if (decided) {
    // Later, as the view grows or shrinks: with a margin, so that a view
    // near the limit does not switch back and forth.
    want = windowed ? total >= PAGE_SORT_MAX * 0.9 : total > PAGE_SORT_MAX * 1.1;
  }
  want &&= sortKeys.length > 0;
  decided = true;
  if (want === windowed) return;
  switching = true;
  setTimeout(() => {
    switching = false;
    startTimer();
    setWindowed(want);
    tickets.setOrder(formatSort(sortKeys) || DEFAULT_SORT);
    stream.setFilter(socketQuery(), token);
  });
}

// ---- the stream ----------------------------------------------------------------

function startTimer() {
  stats.subscriptions = (stats.subscriptions ?? 0) + 1;
  stats.started = performance.now();
  stats.firstRow = stats.complete = stats.rows = stats.topChanges = 0;
}

function noteTicket(t) {
  if (t.assignee && !knownAssignees.has(t.assignee)) {
    knownAssignees.add(t.assignee);
    optionsDirty = true;
  }
  if (t.team && !knownTeams.has(t.team)) {
    knownTeams.add(t.team);
    optionsDirty = true;
  }
}
let optionsDirty = false;

const stream = new TicketStreamClient({
  url: location.href,
  onStatus: setState,
  onReset(reason) {
    tickets.clear();
    windowIds.clear();
    windowFilled = false;
    if (reason === "filter") decided = false;
    table.clearFlashes();
    renderCounts();
    renderPanel();
    table.invalidate();
  },
  onView(view, msg) {
    if (view.window) {
      onWindow(view, msg);
      return;
    }
    switch (msg.type) {
      case "snapshot": {
        const top = tickets.at(0)?.id;
        tickets.upsertMany(msg.tickets);
        if (tickets.at(0)?.id !== top) stats.topChanges++;
        for (const t of msg.tickets) noteTicket(t);
        stats.rows += msg.tickets.length;
        renderPanel();
        table.invalidate();
        setState("loading", `${count(tickets.size)} tickets`);
        break;
      }
      case "end":
        renderCounts();
        if (optionsDirty) refreshOptions(), (optionsDirty = false);
        table.invalidate();
        requestAnimationFrame(() => {
          if (!stats.complete) stats.complete = performance.now() - stats.started;
        });
        decide();
        break;
      case "changes":
        for (const c of msg.changes) {
          if (c.op === "upsert") {
            table.flash(c.ticket.id, tickets.upsert(c.ticket));
            noteTicket(c.ticket);
          } else if (c.op === "remove") {
            tickets.remove(c.id);
          }
        }
        if (msg.counts) renderCounts(), decide();
        if (optionsDirty) refreshOptions(), (optionsDirty = false);
        renderPanel();
        table.invalidate();
        break;
      case "counts":
        renderCounts();
        table.invalidate();
        decide();
        break;
    }
  },
  probe: checkSession,
});
const windowRows = new WindowRows(stream.view);
const windowIds = new Set(); // the window's ids before the last message, to tell new rows from moved ones
let windowFilled = false; // whether the window's first rows and counts came

/** Applies a window's message to the page: highlights, counts, panel. */
function onWindow(view, msg) {
  if (msg.type !== "changes") return;
  for (const c of msg.changes) {
    if (c.op !== "upsert") continue;
    // The window's first rows fill it, until its counts come: not news.
    if (windowFilled) table.flash(c.ticket.id, windowIds.has(c.ticket.id) ? "changed" : "new");
    noteTicket(c.ticket);
  }
  windowFilled = view.complete;
  windowIds.clear();
  for (const id of view.tickets.keys()) windowIds.add(id);
  if (msg.counts) renderCounts();
  if (optionsDirty) refreshOptions(), (optionsDirty = false);
  stats.rows = view.rows.length;
  renderPanel();
  renderWindowNote();
  table.invalidate();
  if (view.complete) {
    if (!stats.complete) requestAnimationFrame(() => { if (!stats.complete) stats.complete = performance.now() - stats.started; });
    decide();
  }
}

// ---- the ticket panel ------------------------------------------------------------

// A ticket opened from the list (a click, or Enter on the selected row)
// stays live in the panel: every change the stream brings is shown; one
// that takes it out of the filter leaves it as it last was, marked so.
let panelId = null;
let panelLast = null; // the ticket as the panel last showed it

function openPanel(id) {
  if (id !== panelId) panelLast = null;
  panelId = id;
  table.select(id);
  renderPanel();
  $("panel").hidden = false;
  $("panel").focus();
}

function closePanel() {
  if (panelId === null) return;
  panelId = panelLast = null;
  $("panel").hidden = true;
  $("table-wrap").focus();
}

function renderPanel() {
  if (panelId === null) return;
  const t = source().get(panelId);
  $("panel-gone").hidden = t !== undefined;
  $("panel-gone").textContent = windowed
    ? "This ticket has left the window (the filters, or the first rows of this order); it is shown as it last was."
    : "This ticket no longer matches the filters; it is shown as it last was.";
  const shown = t ?? panelLast;
  if (!shown || shown === panelLast) return;
  panelLast = shown;
  $("panel-id").textContent = `Ticket #${shown.id}`;
  $("panel-title").textContent = shown.subject;
  const when = (iso) => (iso ? new Date(iso).toLocaleString() : "");
  const fields = [
    ["Status", label(shown.status)],
    ["Priority", label(shown.priority)],
    ["Team", shown.team],
    ["Requester", shown.requester],
    ["Assignee", shown.assignee || "unassigned"],
    ["Tags", (shown.tags ?? []).join(", ") || "none"],
    ["Created", when(shown.created_at)],
    ["Updated", when(shown.updated_at)],
  ];
  $("panel-fields").replaceChildren(...fields.flatMap(([name, value]) => {
    const dt = document.createElement("dt");
    dt.textContent = name;
    const dd = document.createElement("dd");
    dd.textContent = value;
    dd.dataset.field = name.toLowerCase();
    return [dt, dd];
  }));
}

$("rows").addEventListener("click", (ev) => {
  const tr = ev.target.closest("tr.row");
  if (tr) openPanel(Number(tr.dataset.id));
});
$("panel-close").addEventListener("click", closePanel);

// j / k move through the list, Enter opens the selected ticket, Esc closes
// it — except while typing in a field or with a modifier held.
document.addEventListener("keydown", (ev) => {
  if (ev.defaultPrevented || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const tag = ev.target.tagName;
  if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA") return;
  switch (ev.key) {
    case "j":
    case "k":
      table.move(ev.key === "j" ? 1 : -1);
      if (panelId !== null && table.selected !== null) openPanel(table.selected);
      break;
    case "Enter":
      if (tag === "BUTTON" || table.selected === null) return;
      openPanel(table.selected);
      break;
    case "Escape":
      closePanel();
      break;
    case "n":
      if ($("new-rows").hidden) return;
      table.toTop();
      break;
    case "/":
      // After this key's own events: the "/" must not land in the box.
      setTimeout(() => {
        $("f-q").focus();
        $("f-q").select();
      });
      break;
    default:
      return;
  }
  ev.preventDefault();
});

// ---- sign-in -------------------------------------------------------------------

function showSignIn(message) {
  $("auth").hidden = false;
  $("auth-msg").textContent = message;
  $("auth-token").value = "";
  $("auth-token").focus();
}

/**
 * Asks the server whether the token and the filter are accepted: "ok",
 * "auth" (the sign-in form is shown) or "error" (the reason is shown).
 */
async function checkSession() {
  let resp;
  try {
    resp = await fetch("/v1/session", { headers: token ? { Authorization: `Bearer ${token}` } : {}, cache: "no-store" });
  } catch {
    return "ok"; // the server is unreachable: keep retrying
  }
  if (resp.status === 401) {
    const body = await resp.json().catch(() => ({}));
    sessionStorage.removeItem(TOKEN_KEY);
    const why = body?.error?.message ?? "a token is required";
    stream.close();
    setState("auth", token ? `The token was refused: ${why}.` : "This server needs an access token.");
    return "auth";
  }
  if (resp.ok) {
    const info = await resp.json();
    allowedTeams = info.teams?.includes("*") ? null : info.teams ?? null;
    refreshOptions();
  }
  return checkFilter();
}

/**
 * Asks the REST API whether the filter itself is refused (a bad value, a
 * team the token may not see), which a refused socket cannot tell: "ok", or
 * "error" with the server's reason shown.
 */
async function checkFilter() {
  const q = new URLSearchParams(queryFromFilters());
  q.set("limit", "1");
  let resp;
  try {
    resp = await fetch(`/v1/tickets?${q}`, { headers: token ? { Authorization: `Bearer ${token}` } : {}, cache: "no-store" });
  } catch {
    return "ok";
  }
  if (resp.status !== 400 && resp.status !== 403) {
    resp.body?.cancel();
    return "ok";
  }
  const body = await resp.json().catch(() => ({}));
  stream.close();
  setState("error", `${body?.error?.message ?? "the filter was refused"}: change the filters`);
  return "error";
}

async function signIn(newToken) {
  token = newToken;
  const why = await checkSession();
  if (why === "auth") return;
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  $("auth").hidden = true;
  if (why === "error") return; // the filter is refused: changing it starts the stream
  startTimer();
  stream.start({ token, filter: socketQuery() });
}

$("auth").addEventListener("submit", (ev) => {
  ev.preventDefault();
  signIn($("auth-token").value.trim());
});

// ---- start ---------------------------------------------------------------------

for (const name of SELECTS) $("f-" + name).addEventListener("change", onFilterChange);
// The search follows typing, once it pauses: each keystroke would start a
// snapshot of its own.
let searchTimer = 0;
let searched = $("f-q").value;
$("f-q").addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => {
    if ($("f-q").value.trim() === searched.trim()) return;
    searched = $("f-q").value;
    onFilterChange();
  }, 300);
});
$("f-q").addEventListener("keydown", (ev) => {
  if (ev.key === "Escape") $("table-wrap").focus();
});
$("tickets").tHead.addEventListener("click", (ev) => {
  const button = ev.target.closest("button[data-sort]");
  if (button) setSort(button.dataset.sort);
});
$("counts").addEventListener("click", (ev) => {
  const button = ev.target.closest("button[data-status]");
  if (!button) return;
  const select = $("f-status");
  select.value = select.value === button.dataset.status ? "" : button.dataset.status;
  onFilterChange();
  renderCounts(); // the pressed chip follows at once
});
$("filters").addEventListener("reset", () => setTimeout(() => { searched = ""; onFilterChange(); })); // after the form has reset its fields
$("filters").addEventListener("submit", (ev) => ev.preventDefault());

// A token handed over in the fragment (#token=…) is never sent to the
// server by the browser; it is removed from the address at once.
function tokenFromFragment() {
  const frag = new URLSearchParams(location.hash.slice(1));
  if (!frag.has("token")) return null;
  history.replaceState(null, "", location.pathname + location.search);
  return frag.get("token");
}

// ---- a token offered by a link -------------------------------------------------

// Any site can link here with #token=…: used silently, its token would
// sign this tab in as someone else (and show that person's tickets as this
// person's, or capture what this person does). So the link's token is
// only offered: the server says what it grants, and the person decides.
let offered = null;

async function offerToken(candidate) {
  let resp;
  try {
    resp = await fetch("/v1/session", { headers: { Authorization: `Bearer ${candidate}` }, cache: "no-store" });
  } catch {
    return; // the server is unreachable: the link's token is dropped
  }
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    $("offer").hidden = true;
    showSignIn(`The link's token was refused: ${body?.error?.message ?? "not accepted"}.`);
    return;
  }
  offered = candidate;
  const teams = body.teams ?? [];
  const grants = teams.includes("*") ? "every team" : `the team${teams.length === 1 ? "" : "s"} ${teams.join(", ")}`;
  const until = body.expires_at ? `, until ${new Date(body.expires_at).toLocaleString()}` : "";
  // textContent: team names come from the token, which came from a link.
  $("offer-msg").textContent = `This link carries a token for ${grants}${until}.`;
  $("offer").hidden = false;
  $("offer-accept").focus();
}

$("offer").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const t = offered;
  offered = null;
  $("offer").hidden = true;
  if (t !== null) signIn(t);
});
$("offer-reject").addEventListener("click", () => {
  offered = null;
  $("offer").hidden = true;
});

// A link with a new token opened in this tab changes only the fragment.
addEventListener("hashchange", () => {
  const t = tokenFromFragment();
  if (t !== null) offerToken(t);
});

filtersFromLocation();
chooseView();
renderSort();
loadSLA().then(() => table.invalidate(), () => {}); // without targets, no badges
const linked = tokenFromFragment();
signIn(sessionStorage.getItem(TOKEN_KEY) ?? "");
if (linked !== null) offerToken(linked);
