// Formatting of ticket fields for the table.

const MINUTE = 60e3, HOUR = 60 * MINUTE, DAY = 24 * HOUR;

/** Returns how long ago iso was, compactly: "now", "5m", "3h", "12d". */
export function age(iso, now = Date.now()) {
  const ms = now - Date.parse(iso);
  if (!(ms >= MINUTE)) return "now";
  if (ms < HOUR) return `${Math.floor(ms / MINUTE)}m`;
  if (ms < DAY) return `${Math.floor(ms / HOUR)}h`;
  return `${Math.floor(ms / DAY)}d`;
}

const labels = { on_hold: "on hold" };

/** Returns the human label of a status or priority value. */
export function label(value) { return labels[value] ?? value; }

const number = new Intl.NumberFormat();

/** Formats a count with thousands separators. */
export function count(n) { return number.format(n); }

/** Returns the name part of an agent's e-mail address ("karen.osei"), or the whole value if it is none. */
export function person(address) {
  const at = address.indexOf("@");
  return at > 0 ? address.slice(0, at) : address;
}
