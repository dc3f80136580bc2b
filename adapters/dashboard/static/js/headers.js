// The table's sortable column headers: which way a click sorts, and how
// the sort is shown — aria-sort on the header, an arrow, and the caption.

/** The order a view shows with no sort asked. */
export const DEFAULT_KEY = { field: "updated_at", desc: true };

// The first click on a column sorts it the way a queue wants it: most
// urgent, oldest and latest first, the rest A to Z.
const FIRST_DESC = { priority: true, status: false, created_at: false, updated_at: true, team: false, assignee: false };
const NAMES = { priority: "priority", status: "status", created_at: "age", updated_at: "last update", team: "team", assignee: "assignee" };

/** The sort after a click on field's header: that field, reversed if it was already the sort. */
export function nextSort(keys, field) {
  const current = keys[0] ?? DEFAULT_KEY;
  return [{ field, desc: current.field === field ? !current.desc : FIRST_DESC[field] }];
}

/** The sort in words: "priority, descending". */
export function sortText(keys) {
  const k = keys[0] ?? DEFAULT_KEY;
  return `${NAMES[k.field]}, ${k.desc ? "descending" : "ascending"}`;
}

/** Shows keys on the headers of table (aria-sort, arrow) and in its caption. */
export function renderHeaders(table, keys) {
  const k = keys[0] ?? DEFAULT_KEY;
  for (const button of table.tHead.querySelectorAll("button[data-sort]")) {
    const th = button.closest("th");
    const on = button.dataset.sort === k.field;
    if (on) th.setAttribute("aria-sort", k.desc ? "descending" : "ascending");
    else th.removeAttribute("aria-sort");
    button.querySelector(".arrow").textContent = on ? (k.desc ? "▼" : "▲") : "";
  }
  table.caption.textContent = keys.length
    ? `Tickets matching the filters, by ${sortText(keys)}`
    : "Tickets matching the filters, most recently updated first";
}
