// The orders a dashboard can sort by, the same as the server's (a live
// window's rows and a page sorted here must never differ): priority by
// urgency, status by lifecycle, team and assignee by their UTF-8 bytes (no
// assignee first), timestamps by time, and the ticket id, ascending, last.

/** The fields a sort may name. */
export const SORT_FIELDS = ["priority", "status", "created_at", "updated_at", "team", "assignee"];

const PRIORITY = { low: 0, normal: 1, high: 2, urgent: 3 };
const STATUS = { new: 0, open: 1, pending: 2, on_hold: 3, solved: 4, closed: 5 };

/**
 * Parses a sort as the server takes it ("-priority,created_at") into
 * [{field, desc}]; "" gives []. Throws a TypeError naming what is wrong.
 */
export function parseSort(s) {
  const keys = [];
  for (const part of String(s ?? "").split(",")) {
    const item = part.trim();
    if (!item) continue;
    const desc = item.startsWith("-");
    const field = desc ? item.slice(1) : item;
    if (!SORT_FIELDS.includes(field)) throw new TypeError(`unknown sort field "${field}"`);
    if (keys.some((k) => k.field === field)) throw new TypeError(`sort field "${field}" given twice`);
    keys.push({ field, desc });
  }
  return keys;
}

/** Writes [{field, desc}] as the server takes it. */
export function formatSort(keys) {
  return keys.map((k) => (k.desc ? "-" : "") + k.field).join(",");
}

/**
 * Returns t with its times parsed once, as keyedComparator compares:
 * {t, created_at, updated_at}, each [seconds, nanoseconds].
 */
export function keyed(t) {
  return { t, created_at: stamp(t.created_at), updated_at: stamp(t.updated_at) };
}

/**
 * Parses an RFC 3339 time into [seconds since the epoch, nanoseconds]: the
 * server's times carry microseconds, where Date.parse keeps milliseconds,
 * and two tickets in one millisecond must sort here as the server sorts
 * them.
 */
function stamp(s) {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(s ?? "");
  if (!m) {
    const ms = Date.parse(s) || 0;
    return [Math.floor(ms / 1000), (ms - Math.floor(ms / 1000) * 1000) * 1e6];
  }
  return [(Date.parse(m[1] + m[3]) || 0) / 1000, m[2] ? Number(m[2].padEnd(9, "0")) : 0];
}

/**
 * Compares two strings by their UTF-8 bytes (code point order), where
 * JavaScript's own < compares UTF-16 units and puts U+E000–U+FFFF after
 * the characters beyond U+FFFF.
 */
export function compareBytes(a, b) {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i), y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      // Surrogates (astral characters) go above the rest of the BMP.
      x = x <= 0xdfff ? x + 0x2000 : x - 0x800;
      y = y <= 0xdfff ? y + 0x2000 : y - 0x800;
    }
    return x < y ? -1 : 1;
  }
  return a.length - b.length;
}

function compareField(a, b, field) {
  switch (field) {
    case "priority": return (PRIORITY[a.t.priority] ?? -1) - (PRIORITY[b.t.priority] ?? -1);
    case "status": return (STATUS[a.t.status] ?? -1) - (STATUS[b.t.status] ?? -1);
    case "created_at":
    case "updated_at": return a[field][0] - b[field][0] || a[field][1] - b[field][1];
    default: return compareBytes(a.t[field] ?? "", b.t[field] ?? "");
  }
}

/**
 * Returns a compare function (a, b) => number for keyed tickets (see
 * keyed) in the order of keys ([{field, desc}] or a sort string), ids
 * ascending last — descending with idDesc, for the page's default order
 * only (a snapshot then only appends).
 */
export function keyedComparator(keys, idDesc = false) {
  if (typeof keys === "string") keys = parseSort(keys);
  return (a, b) => {
    for (const { field, desc } of keys) {
      const c = compareField(a, b, field);
      if (c !== 0) return desc ? -Math.sign(c) : Math.sign(c);
    }
    return idDesc ? b.t.id - a.t.id : a.t.id - b.t.id;
  };
}

/**
 * Returns a compare function (a, b) => number for tickets in the order of
 * keys ([{field, desc}] or a sort string), ids ascending last: the
 * server's order.
 */
export function comparator(keys) {
  const cmp = keyedComparator(keys);
  return (a, b) => cmp(keyed(a), keyed(b));
}
