/**
 * Dates and days, in one place. Every day is a UTC day: 'YYYY-MM-DD' in text,
 * its midnight in epoch milliseconds as a number.
 */

/** Milliseconds in an hour: request rows are grouped by epoch hour (hour of the event since 1970). */
export const HOUR_MS = 3_600_000;

/** Milliseconds in a UTC day (no leap seconds in epoch time). */
export const DAY_MS = 86_400_000;

/** 'YYYY-MM-DD', the form of a UTC day in flags, payloads and configuration. */
export const UTC_DAY = /^\d{4}-\d{2}-\d{2}$/;

/** UTC midnight of the day holding `ms`. */
export function dayStart(ms: number): number {
  return Math.floor(ms / DAY_MS) * DAY_MS;
}

/** First day (UTC midnight) of the month holding `ms`. */
export function monthStart(ms: number): number {
  const d = new Date(ms);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
}

/** Whether `text` is a UTC day, YYYY-MM-DD, that exists in the calendar. */
export function isUtcDay(text: string): boolean {
  return UTC_DAY.test(text) && isRealDate(text);
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] as const;

/**
 * Date.parse rolls 2026-02-30 over into March; this says whether the
 * YYYY-MM-DD prefix of an ISO string is a real calendar date. On the hot
 * path of ingestion, so plain arithmetic rather than splitting strings.
 */
export function isRealDate(iso: string): boolean {
  const y = Number(iso.slice(0, 4));
  const m = Number(iso.slice(5, 7));
  const d = Number(iso.slice(8, 10));
  if (!(Number.isInteger(y) && m >= 1 && m <= 12 && d >= 1)) return false;
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  return d <= (m === 2 && leap ? 29 : (DAYS_IN_MONTH[m - 1] ?? 0));
}

/** 'YYYY-MM-DD hh:mm:ss' in UTC: the form DateTime columns and parameters take on both backends. */
export function formatDateTime(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}

/** 'YYYY-MM-DD hh:mm:ss.sss' in UTC: DateTime64(3) columns. */
export function formatDateTimeMillis(ms: number): string {
  return new Date(ms).toISOString().slice(0, 23).replace('T', ' ');
}

/** 'YYYY-MM-DD', the UTC day of an instant. */
export function formatDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** Epoch ms of a UTC day 'YYYY-MM-DD' (its midnight). */
export function parseDate(day: string): number {
  return Date.parse(`${day}T00:00:00Z`);
}

const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;
const ISO_DATE_TIME_WITH_ZONE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/i;

/**
 * Epoch ms of an ISO-8601 date (its UTC midnight) or a date-time that states
 * its zone, as users give instants on the command line and in files; NaN for
 * anything else (a zone-less date-time would be guessed).
 */
export function parseInstant(text: string): number {
  if (ISO_DATE.test(text)) return parseDate(text);
  return ISO_DATE_TIME_WITH_ZONE.test(text) ? Date.parse(text) : NaN;
}

/** Epoch ms of 'YYYY-MM-DD hh:mm:ss[.sss]' in UTC, as the warehouse writes DateTime and DateTime64 values. */
export function parseDateTime(text: string): number {
  return Date.parse(`${text.replace(' ', 'T')}Z`);
}

/** Resolves after `ms`; the timer is unref'd, so a pending wait never keeps the process alive. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** A calendar month, UTC. */
export interface Month {
  /** 'YYYY-MM' */
  label: string;
  start: number;
  end: number;
  days: number;
}

const MONTH = /^(\d{4})-(0[1-9]|1[0-2])$/;

/** Parse 'YYYY-MM' into its UTC bounds, or undefined. */
export function parseMonth(text: string): Month | undefined {
  const m = MONTH.exec(text);
  if (!m) return undefined;
  const start = Date.UTC(Number(m[1]), Number(m[2]) - 1, 1);
  const end = Date.UTC(Number(m[1]), Number(m[2]), 1);
  return { label: text, start, end, days: Math.round((end - start) / DAY_MS) };
}
