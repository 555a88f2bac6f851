/**
 * Rate cards as billing: each (pool, month) a card prices is a restatement
 * scope of source `rate-card` (account = the pool). A month is planned (its
 * lines as they stand, its lines as the cards say now, what differs) and then
 * written as a new version of the scope: lines first, invisible, then every
 * month's scope in one insert, so a set of months lands all at once.
 *
 * An hour whose line is unchanged keeps the billing_version it had, so
 * attribution re-runs only the days whose hours changed. Lines reach the end
 * of the current UTC day (the horizon); a month's lines are estimated until
 * `settleDays` after it ends, the time a back-dated change may still come,
 * so its chargeback pack is estimated first and final after, with a delta.
 */
import { z } from 'zod';
import { formatScaled, units } from '../util/decimal.js';
import { DAY_MS, dayStart, formatDate, formatDateTime, HOUR_MS, monthStart, parseDateTime } from '../util/time.js';
import { sqlFile } from '../warehouse/sql-files.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { monthHours } from './card-timeline.js';
import type { RateCard } from './rate-card.js';

export const RATE_CARD_SOURCE = 'rate-card';

export interface CardMonthOptions {
  now: number;
  settleDays: number;
  poolTagKey: string;
}

/** One hour's line, as written and as read back. */
export interface CardLine {
  hour: number;
  cost: bigint;
  capacity: bigint;
  currency: string;
  estimated: boolean;
  /** rate-card:<change id> */
  sourceFile: string;
  /** Kept from the version before when the line is unchanged; else the new scope version. */
  billingVersion?: string;
}

export interface MonthPlan {
  pool: string;
  monthStart: number;
  old: CardLine[];
  lines: CardLine[];
  /** Newest recorded version of the scope, '' when none. */
  oldScopeVersion: string;
  /** Hours whose cost or capacity differ (or that appear or vanish). */
  restatedHours: number;
  /** New minus old cost of those hours, units. */
  restatedCost: bigint;
}

/** Lines reach the end of the current UTC day. */
export const cardHorizon = (now: number): number => dayStart(now) + DAY_MS;

const nextMonth = (start: number): number => monthStart(start + 32 * DAY_MS);

/** A month's lines are estimated until settleDays after its end. */
export const monthEstimated = (start: number, opts: Pick<CardMonthOptions, 'now' | 'settleDays'>): boolean =>
  opts.now < nextMonth(start) + opts.settleDays * DAY_MS;

export const sourceFileOf = (changeId: string): string => `${RATE_CARD_SOURCE}:${changeId}`;

/** The month's lines as the cards say now. */
export function desiredLines(cards: readonly RateCard[], start: number, opts: CardMonthOptions): CardLine[] {
  const estimated = monthEstimated(start, opts);
  return monthHours(cards, start, cardHorizon(opts.now)).map((h) => ({
    hour: h.hour, cost: h.cost, capacity: h.capacity, currency: h.card.currency, estimated, sourceFile: sourceFileOf(h.card.changeId),
  }));
}

const lineRow = z.object({
  hour: z.string(), line_version: z.string(), cost: z.string(), capacity: z.string(), currency: z.string(),
  estimated: z.boolean(), source_file: z.string(), written_in: z.string(),
});

async function currentLines(warehouse: Warehouse, pool: string, start: number): Promise<{ lines: CardLine[]; scopeVersion: string }> {
  const rows = await warehouse.query(sqlFile('pricing/card-month-lines'), { pool, month_start: formatDateTime(start) }, lineRow);
  return {
    scopeVersion: rows[0]?.written_in ?? '',
    lines: rows.map((r) => ({
      hour: parseDateTime(r.hour), cost: units(r.cost), capacity: units(r.capacity), currency: r.currency,
      estimated: r.estimated, sourceFile: r.source_file, billingVersion: r.line_version,
    })),
  };
}

/** Plan the given months of a pool: read each as it stands and compare with the cards. */
export async function planMonths(warehouse: Warehouse, pool: string, cards: readonly RateCard[], months: readonly number[], opts: CardMonthOptions): Promise<MonthPlan[]> {
  const plans: MonthPlan[] = [];
  for (const start of months) {
    const { lines: old, scopeVersion } = await currentLines(warehouse, pool, start);
    const lines = desiredLines(cards, start, opts);
    const before = new Map(old.map((l) => [l.hour, l]));
    const after = new Map(lines.map((l) => [l.hour, l]));
    let restatedHours = 0;
    let restatedCost = 0n;
    for (const hour of new Set([...before.keys(), ...after.keys()])) {
      const o = before.get(hour);
      const n = after.get(hour);
      if (o?.cost === n?.cost && o?.capacity === n?.capacity) continue;
      restatedHours++;
      restatedCost += (n?.cost ?? 0n) - (o?.cost ?? 0n);
    }
    plans.push({ pool, monthStart: start, old, lines, oldScopeVersion: scopeVersion, restatedHours, restatedCost });
  }
  return plans;
}

const sameLine = (a: CardLine, b: CardLine): boolean =>
  a.cost === b.cost && a.capacity === b.capacity && a.currency === b.currency && a.estimated === b.estimated && a.sourceFile === b.sourceFile;

/**
 * A scope version after every version the plans replace: `preferred` (e.g. the
 * change's own time) unless one of them is as new, then a microsecond after it.
 */
export function scopeVersionAfter(preferred: string, plans: readonly MonthPlan[]): string {
  return versionAfter(preferred, plans.reduce((m, p) => (p.oldScopeVersion > m ? p.oldScopeVersion : m), ''));
}

/** `preferred` when it is after `newest` (both 'YYYY-MM-DD hh:mm:ss.ffffff', or '' for none), else a microsecond after `newest`. */
export function versionAfter(preferred: string, newest: string): string {
  if (preferred > newest) return preferred;
  const micros = BigInt(parseDateTime(newest.slice(0, 23))) * 1000n + BigInt(newest.slice(23, 26).padEnd(3, '0')) + 1n;
  return versionText(micros);
}

/** 'YYYY-MM-DD hh:mm:ss.ffffff' of a count of microseconds since the epoch. */
export function versionText(micros: bigint): string {
  const ms = Number(micros / 1000n);
  return `${new Date(ms).toISOString().slice(0, 23).replace('T', ' ')}${String(micros % 1000n).padStart(3, '0')}`;
}

/** Write the plans as one new version of each month's scope: lines, then all scopes in one insert. */
export async function writePlans(warehouse: Warehouse, plans: readonly MonthPlan[], version: string, importId: string, opts: CardMonthOptions): Promise<number> {
  if (plans.length === 0) return 0;
  let written = 0;
  const scopes: Record<string, unknown>[] = [];
  for (const plan of plans) {
    const before = new Map(plan.old.map((l) => [l.hour, l]));
    const end = nextMonth(plan.monthStart);
    const rows = plan.lines.map((line) => {
      const old = before.get(line.hour);
      const lineVersion = old !== undefined && sameLine(old, line) && old.billingVersion !== undefined ? old.billingVersion : version;
      return lineObject(plan.pool, plan.monthStart, end, line, lineVersion, version, opts.poolTagKey);
    });
    // Bounded by a month's hours (744): one insert per month.
    if (rows.length > 0) await warehouse.insertObjects('billing_line_items', rows);
    written += rows.length;
    const effective = new Map<string, bigint>();
    for (const l of plan.lines) effective.set(l.currency, (effective.get(l.currency) ?? 0n) + l.cost);
    const money = Object.fromEntries([...effective].map(([c, v]) => [c, formatScaled(v)]));
    scopes.push({
      source: RATE_CARD_SOURCE, billing_account_id: plan.pool,
      scope_start: formatDateTime(plan.monthStart), scope_end: formatDateTime(end),
      billing_version: version, import_id: importId, rows: rows.length,
      effective_cost: money, billed_cost: money, record_days: [], completed_at: new Date().toISOString(),
    });
  }
  await warehouse.insertObjects('billing_scopes', scopes);
  return written;
}

function lineObject(pool: string, start: number, end: number, line: CardLine, billingVersion: string, scopeVersion: string, poolTagKey: string): Record<string, unknown> {
  const cost = formatScaled(line.cost);
  return {
    billing_version: billingVersion,
    scope_version: scopeVersion,
    source: RATE_CARD_SOURCE,
    provider: 'Rate card',
    billing_account_id: pool,
    sub_account_id: '',
    charge_period_start: formatDateTime(line.hour),
    charge_period_end: formatDateTime(line.hour + HOUR_MS),
    billed_cost: cost,
    effective_cost: cost,
    list_cost: cost,
    billing_currency: line.currency,
    consumed_quantity: formatScaled(line.capacity),
    consumed_unit: 'GPU-Hours',
    resource_id: pool,
    resource_type: 'GPU capacity',
    instance_type: '',
    service_name: 'GPU capacity (rate card)',
    charge_category: 'Usage',
    charge_class: '',
    sku_id: line.sourceFile,
    region: '',
    tags: { [poolTagKey]: pool },
    pool_id: pool,
    is_estimated: line.estimated,
    source_file: line.sourceFile,
    source_line: 0,
    billing_period_start: formatDateTime(start),
    billing_period_end: formatDateTime(end),
    charge_frequency: 'Usage-Based',
    scope_start: formatDateTime(start),
  };
}

const fingerprintRow = z.object({
  pool_id: z.string(), month_start: z.string(), lines: z.coerce.number(), cost_units: z.string(), cost_moment: z.string(),
  capacity_moment: z.string(), estimated_lines: z.coerce.number(), currencies: z.array(z.string()), sources: z.array(z.string()),
});

/** What a month holds, summed (card-month-fingerprints.sql), as one comparable text; currencies and sources sorted. */
interface Fingerprint {
  lines: number;
  cost: bigint | string;
  costMoment: bigint | string;
  capacityMoment: bigint | string;
  estimated: number;
  currencies: readonly string[];
  sources: readonly string[];
}

const fingerprintText = (f: Fingerprint): string =>
  [f.lines, f.cost, f.costMoment, f.capacityMoment, f.estimated, f.currencies.join(','), f.sources.join(',')].join('|');

/** The fingerprint of lines as the cards say them, summed as the SQL sums the stored ones. */
function fingerprint(lines: readonly CardLine[]): string {
  let cost = 0n; let costMoment = 0n; let capacityMoment = 0n; let estimated = 0;
  for (const l of lines) {
    const hourNum = BigInt(l.hour / HOUR_MS);
    cost += l.cost; costMoment += l.cost * hourNum; capacityMoment += l.capacity * hourNum;
    if (l.estimated) estimated++;
  }
  const sorted = (xs: Iterable<string>): string[] => [...new Set(xs)].sort();
  return fingerprintText({
    lines: lines.length, cost, costMoment, capacityMoment, estimated,
    currencies: sorted(lines.map((l) => l.currency)), sources: sorted(lines.map((l) => l.sourceFile)),
  });
}

export interface SyncResult {
  months: { pool: string; month: string; lines: number; restatedHours: number }[];
  lines: number;
}

/**
 * Make every (pool, month) the cards price hold what the cards say now: the
 * months a change touched but a killed `pricing set` left unwritten, the
 * current month as days pass (the horizon moves), and a month that settles.
 * Owed months are found by comparing fingerprints, so a month that already
 * holds its lines is not written again.
 */
export async function syncCardMonths(warehouse: Warehouse, cards: readonly RateCard[], opts: CardMonthOptions, importId: string, version: string): Promise<SyncResult> {
  if (cards.length === 0) return { months: [], lines: 0 };
  const stored = new Map((await warehouse.query(sqlFile('pricing/card-month-fingerprints'), {}, fingerprintRow))
    .map((r) => [`${r.pool_id}\u0000${parseDateTime(r.month_start)}`, fingerprintText({
      lines: r.lines, cost: r.cost_units, costMoment: r.cost_moment, capacityMoment: r.capacity_moment,
      estimated: r.estimated_lines, currencies: r.currencies, sources: r.sources,
    })]));
  const byPool = new Map<string, RateCard[]>();
  for (const c of cards) byPool.set(c.pool, [...(byPool.get(c.pool) ?? []), c]);
  const horizon = cardHorizon(opts.now);
  const plans: MonthPlan[] = [];
  for (const [pool, poolCards] of byPool) {
    const first = Math.min(...poolCards.map((c) => c.validFrom));
    const owed: number[] = [];
    for (let m = monthStart(first); m < horizon; m = nextMonth(m)) {
      const want = desiredLines(poolCards, m, opts);
      const have = stored.get(`${pool}\u0000${m}`);
      if (want.length === 0 && have === undefined) continue;
      if (have !== fingerprint(want)) owed.push(m);
    }
    plans.push(...await planMonths(warehouse, pool, poolCards, owed, opts));
  }
  const lines = await writePlans(warehouse, plans, scopeVersionAfter(version, plans), importId, opts);
  return {
    months: plans.map((p) => ({ pool: p.pool, month: formatDate(p.monthStart).slice(0, 7), lines: p.lines.length, restatedHours: p.restatedHours })),
    lines,
  };
}
