// VirtualTable renders a long list of tickets into a real <table>, but only
// the rows in view (plus a margin): 50,000 tickets cost the page the same
// few dozen DOM rows as 50. Spacer rows above and below keep the scrollbar
// true to the whole list, and aria-rowcount / aria-rowindex tell assistive
// technology where each rendered row sits.
//
// Scroll anchoring: once the reader has scrolled down, rows that arrive or
// move above the first row in view shift the scroll position by as much,
// so the rows under their eyes stay where they are; the rows that came
// above it are counted for an "N new" notice. At the top, new rows simply
// appear.

import { age, label, person } from "./format.js";
import { slaBadge } from "./sla.js";

const OVERSCAN = 10; // rows rendered beyond each edge of the view
const FLASH_MS = 2000;

export class VirtualTable {
  #wrap; #table; #tbody; #set;
  #rowHeight = 0;
  #scheduled = false;
  #flash = new Map(); // id -> {kind, at}
  #onRender;
  #selected = null; // the id of the ticket chosen with the keys or a click
  #anchor = null; // {id, index} of the first row in view at the last render
  #newAbove = 0; // rows that came above the view since the reader left the top
  #onNewAbove;

  /**
   * wrap scrolls; table holds tbody; set is the TicketSet (or WindowRows)
   * to show; onNewAbove(n) is told how many rows came above the view while
   * scrolled down (0 once back at the top).
   */
  constructor(wrap, table, tbody, set, onRender = () => {}, onNewAbove = () => {}) {
    this.#wrap = wrap;
    this.#table = table;
    this.#tbody = tbody;
    this.#set = set;
    this.#onRender = onRender;
    this.#onNewAbove = onNewAbove;
    wrap.addEventListener("scroll", () => {
      if (wrap.scrollTop <= 0) this.#setNewAbove(0);
      this.invalidate();
    }, { passive: true });
    new ResizeObserver(() => this.invalidate()).observe(wrap);
    setInterval(() => this.invalidate(), 30_000); // ages move on
  }

  /** Marks a ticket as just created or changed, to highlight it briefly. */
  flash(id, kind) {
    this.#flash.set(id, { kind, at: performance.now() });
    setTimeout(() => {
      const f = this.#flash.get(id);
      if (f && performance.now() - f.at >= FLASH_MS) this.#flash.delete(id);
    }, FLASH_MS + 50);
  }

  /** The id of the selected ticket, or null. */
  get selected() { return this.#selected; }

  /**
   * Selects the ticket with this id (null: none) and scrolls it into view.
   */
  select(id) {
    this.#selected = id;
    const i = id === null ? -1 : this.#set.indexOf(id);
    if (i >= 0) {
      // The row's top in the scrolled content; the sticky header covers
      // the view's first theadH pixels.
      const rowH = this.#measure();
      const theadH = this.#table.tHead.offsetHeight;
      const top = (this.#table.caption?.offsetHeight ?? 0) + theadH + i * rowH;
      const wrap = this.#wrap;
      if (top - wrap.scrollTop < theadH) wrap.scrollTop = top - theadH;
      else if (top + rowH - wrap.scrollTop > wrap.clientHeight) wrap.scrollTop = top + rowH - wrap.clientHeight;
    }
    this.invalidate();
  }

  /** Moves the selection by delta rows (from the top when none). */
  move(delta) {
    const n = this.#set.size;
    if (n === 0) return;
    const at = this.#selected === null ? -1 : this.#set.indexOf(this.#selected);
    const i = at < 0 ? 0 : Math.min(n - 1, Math.max(0, at + delta));
    this.select(this.#set.at(i).id);
  }

  /** Forgets every highlight (the list was replaced). */
  clearFlashes() { this.#flash.clear(); }

  /** Shows another list (a TicketSet or WindowRows), from its top. */
  setSource(set) {
    this.#set = set;
    this.toTop();
  }

  /** Scrolls to the first row and clears the "N new" count. */
  toTop() {
    this.#anchor = null;
    this.#wrap.scrollTop = 0;
    this.#setNewAbove(0);
    this.invalidate();
  }

  /** How many rows came above the view since the reader scrolled down. */
  get newAbove() { return this.#newAbove; }

  #setNewAbove(n) {
    if (n === this.#newAbove) return;
    this.#newAbove = n;
    this.#onNewAbove(n);
  }

  /** Schedules a render for the next frame; many calls make one render. */
  invalidate() {
    if (this.#scheduled) return;
    this.#scheduled = true;
    requestAnimationFrame(() => {
      this.#scheduled = false;
      this.#render();
    });
  }

  #measure() {
    if (this.#rowHeight > 0) return this.#rowHeight;
    const probe = this.#row(0, { id: 0, subject: "x", requester: "x", team: "", status: "", priority: "", assignee: "", tags: ["x"], created_at: "", updated_at: "" });
    this.#tbody.replaceChildren(probe);
    const h = probe.getBoundingClientRect().height;
    if (h > 0) this.#rowHeight = h;
    return h || 36;
  }

  #render() {
    const n = this.#set.size;
    this.#table.setAttribute("aria-rowcount", String(n + 1));
    const rowH = this.#measure();
    const headH = this.#table.tHead.offsetHeight + (this.#table.caption?.offsetHeight ?? 0);
    let scrollTop = this.#wrap.scrollTop;
    if (this.#anchor && scrollTop > 0) {
      // The first row in view moved in the list since the last render
      // (scrolling does not move it in the list; a change above it does).
      const now = this.#set.indexOf(this.#anchor.id);
      const shift = now - this.#anchor.index;
      if (now >= 0 && shift !== 0) {
        scrollTop = Math.max(0, scrollTop + shift * rowH);
        if (shift > 0) this.#setNewAbove(this.#newAbove + shift);
      }
    }
    const top = Math.max(0, scrollTop - headH);
    const first = Math.max(0, Math.floor(top / rowH) - OVERSCAN);
    const last = Math.min(n, Math.ceil((top + this.#wrap.clientHeight) / rowH) + OVERSCAN);
    const rows = [];
    if (first > 0) rows.push(spacer(first * rowH));
    const now = Date.now();
    for (let i = first; i < last; i++) rows.push(this.#row(i, this.#set.at(i), now));
    if (last < n) rows.push(spacer((n - last) * rowH));
    this.#tbody.replaceChildren(...rows);
    if (scrollTop !== this.#wrap.scrollTop) this.#wrap.scrollTop = scrollTop; // after the rows: the list is long enough now
    const inView = Math.min(n - 1, Math.floor(Math.max(0, this.#wrap.scrollTop - headH + this.#table.tHead.offsetHeight) / rowH));
    this.#anchor = n > 0 && inView >= 0 ? { id: this.#set.at(inView).id, index: inView } : null;
    this.#onRender(n, last - first);
  }

  #row(i, t, now = Date.now()) {
    const tr = document.createElement("tr");
    tr.className = "row";
    tr.dataset.id = t.id;
    tr.setAttribute("aria-rowindex", String(i + 2));
    if (t.id === this.#selected) {
      tr.classList.add("selected");
      tr.setAttribute("aria-selected", "true");
    }
    const f = this.#flash.get(t.id);
    if (f) {
      const elapsed = performance.now() - f.at;
      if (elapsed < FLASH_MS) {
        tr.classList.add(f.kind === "new" ? "flash-new" : "flash-changed");
        tr.style.animationDelay = `${-elapsed}ms`; // a re-render continues the fade, not restart it
      }
    }
    tr.append(
      cell("col-id", `#${t.id}`),
      subjectCell(t),
      cell("col-requester", t.requester, t.requester),
      cell("col-team", t.team),
      badge("col-status", "s-" + t.status, label(t.status)),
      badge("col-priority", "p-" + t.priority, label(t.priority)),
      t.assignee ? cell("col-assignee", person(t.assignee), t.assignee) : muted("col-assignee", "unassigned"),
      timeCell("col-age", t.created_at, "Created", now),
      timeCell("col-updated", t.updated_at, "Updated", now),
      slaCell(t, now),
    );
    return tr;
  }
}

function cell(cls, text, title) {
  const td = document.createElement("td");
  td.className = cls;
  td.textContent = text;
  if (title) td.title = title;
  return td;
}

function muted(cls, text) {
  const td = cell(cls, "");
  const span = document.createElement("span");
  span.className = "unassigned";
  span.textContent = text;
  td.append(span);
  return td;
}

function badge(cls, kind, text) {
  const td = cell(cls, "");
  const span = document.createElement("span");
  span.className = "badge " + kind;
  span.textContent = text;
  td.append(span);
  return td;
}

// subjectCell holds the subject, cut to fit, and the tags after it.
function subjectCell(t) {
  const td = cell("col-subject", "");
  const line = document.createElement("div");
  line.className = "subject-line";
  const subject = document.createElement("span");
  subject.className = "subject";
  subject.textContent = t.subject;
  line.append(subject);
  const tags = t.tags ?? [];
  for (const tag of tags) {
    const span = document.createElement("span");
    span.className = "tag";
    span.textContent = tag;
    line.append(span);
  }
  td.append(line);
  td.title = tags.length ? `${t.subject}\nTags: ${tags.join(", ")}` : t.subject;
  return td;
}

// timeCell says how long ago iso was (the ticket's age, or its last
// change), with the time in full on hover.
function timeCell(cls, iso, what, now) {
  const td = cell(cls, "");
  if (!iso) return td;
  const time = document.createElement("time");
  time.dateTime = iso;
  time.title = `${what} ${new Date(iso).toLocaleString()}`;
  time.textContent = age(iso, now);
  td.append(time);
  return td;
}

// slaCell shows the time left to the ticket's next target, or "overdue",
// in words as well as colour; the target's kind is read out before it.
function slaCell(t, now) {
  const td = cell("col-sla", "");
  const b = slaBadge(t, now);
  if (!b) return td;
  const span = document.createElement("span");
  span.className = `badge sla sla-${b.state}`;
  span.dataset.sla = b.state;
  span.title = b.label;
  const kind = document.createElement("span");
  kind.className = "visually-hidden";
  kind.textContent = b.kind === "first response" ? "First response: " : "Resolution: ";
  span.append(kind, b.text);
  td.append(span);
  return td;
}

function spacer(px) {
  const tr = document.createElement("tr");
  tr.className = "spacer";
  tr.setAttribute("aria-hidden", "true");
  // One cell, no colspan: a spanning cell would make the hidden columns of
  // the narrow layout take width.
  const td = document.createElement("td");
  td.style.height = `${px}px`;
  tr.append(td);
  return tr;
}
