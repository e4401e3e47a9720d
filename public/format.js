// How the page writes numbers, prices, dates and durations (the shopper's locale).

/** Prices are in minor units; the currency's own number of decimals decides the divisor. */
export function money(minor, currency) {
  const f = new Intl.NumberFormat(undefined, { style: "currency", currency });
  return f.format(minor / 10 ** (f.resolvedOptions().maximumFractionDigits ?? 2));
}

export const count = (n) => new Intl.NumberFormat().format(n);

/** A time of day to the second, "12:00:10": when a draw closes, until when a unit is kept. */
export const timeOfDay = (ms) => new Intl.DateTimeFormat(undefined, { timeStyle: "medium" }).format(new Date(ms));

export const when = (iso) => new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" }).format(new Date(iso));

/** 0:07, 4:05, 3:04:05, 2 d 03:04:05. */
export function clock(ms) {
  const s = Math.max(0, Math.ceil(ms / 1000));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n) => String(n).padStart(2, "0");
  const hms = h > 0 || d > 0 ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
  return d > 0 ? `${d} d ${hms.padStart(8, "0")}` : hms;
}

/** An estimate in words: "under a minute", "about 3 minutes". */
export function roughly(seconds) {
  if (seconds == null) return "unknown";
  if (seconds < 60) return seconds <= 5 ? "a few seconds" : "under a minute";
  const m = Math.round(seconds / 60);
  if (m < 60) return `about ${m} minute${m === 1 ? "" : "s"}`;
  const h = Math.round(m / 60);
  return `about ${h} hour${h === 1 ? "" : "s"}`;
}
