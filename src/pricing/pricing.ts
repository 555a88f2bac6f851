/**
 * `inferledger pricing`: set a pool's rate card (or many, from a CSV file),
 * read the cards and their history. A change is checked whole before anything
 * is written (a bad price, an unknown MIG profile, a currency other than the
 * pool's bill: an error naming the field, and nothing changes). Then its
 * row lands in rate_cards with what it restates (the audit), then the months
 * it touches are rewritten; a change whose months a crash left unwritten is
 * written by the next `pricing` command or scheduled billing pull
 * (syncCardMonths), since the row is the change.
 */
import { randomUUID } from 'node:crypto';
import { userInfo } from 'node:os';
import { parse } from 'csv-parse/sync';
import { z } from 'zod';
import type { Config } from '../config/config.js';
import { formatScaled, units } from '../util/decimal.js';
import { formatDate, formatDateTime, HOUR_MS, parseDateTime } from '../util/time.js';
import { sqlFile } from '../warehouse/sql-files.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { cardHorizon, planMonths, scopeVersionAfter, syncCardMonths, versionAfter, versionText, writePlans, type CardMonthOptions, type SyncResult } from './card-months.js';
import { cardSegments, monthsOverlapping } from './card-timeline.js';
import { describeCard, hourInstant, PRICE_UNITS, RateCardError, rateCardOf, type RateCard } from './rate-card.js';

const cardRow = z.object({
  change_id: z.string(), changed_at: z.string(), changed_by: z.string(), reason: z.string(), pool_id: z.string(),
  valid_from: z.string(), valid_to: z.string(), price_unit: z.enum(PRICE_UNITS), price: z.string(), currency: z.string(),
  gpus: z.coerce.number(), instances: z.coerce.number(), gpus_per_instance: z.coerce.number(), gpu_type: z.string(),
  mig_profile: z.string(), mig_slices: z.coerce.number(), time_sliced: z.boolean(), capacity_gpus: z.string(), hourly_cost: z.string(),
  replaced: z.array(z.string()), replaced_text: z.string(), restated_hours: z.coerce.number(), restated_cost: z.string(),
  restated_months: z.array(z.string()),
});

/** A stored version with its audit. */
export interface CardChange extends RateCard {
  replaced: string[];
  replacedText: string;
  restatedHours: number;
  /** Units of 1e-12. */
  restatedCost: bigint;
  restatedMonths: string[];
}

/** Card versions, oldest first: of the given pools, or of all. */
export async function readCards(warehouse: Warehouse, pools: readonly string[] = []): Promise<CardChange[]> {
  const rows = await warehouse.query(sqlFile('pricing/rate-cards'), { pools }, cardRow);
  return rows.map((r) => ({
    changeId: r.change_id, changedAt: r.changed_at, changedBy: r.changed_by, reason: r.reason, pool: r.pool_id,
    validFrom: parseDateTime(r.valid_from), validTo: r.valid_to === '' ? null : parseDateTime(r.valid_to),
    priceUnit: r.price_unit, price: units(r.price), currency: r.currency, gpus: r.gpus, instances: r.instances,
    gpusPerInstance: r.gpus_per_instance, gpuType: r.gpu_type, migProfile: r.mig_profile, migSlices: r.mig_slices,
    timeSliced: r.time_sliced, capacity: units(r.capacity_gpus), hourlyCost: units(r.hourly_cost),
    replaced: r.replaced, replacedText: r.replaced_text, restatedHours: r.restated_hours, restatedCost: units(r.restated_cost),
    restatedMonths: r.restated_months.map((m) => m.slice(0, 7)),
  }));
}

export function cardOptions(config: Config, now: number): CardMonthOptions {
  return { now, settleDays: config.pricing.settleDays, poolTagKey: config.billing.poolTagKey };
}

/** The time of a new version: now, to the microsecond, after every version already stored. */
function changeTime(now: number, cards: readonly RateCard[]): string {
  return versionAfter(versionText(BigInt(now) * 1000n), cards.reduce((m, c) => (c.changedAt > m ? c.changedAt : m), ''));
}

export interface SetResult {
  change: CardChange;
  /** Months written, 'YYYY-MM'. */
  months: string[];
  lines: number;
}

/** Validate, record and apply one change. Throws RateCardError (nothing written) on bad input. */
export async function setRateCard(warehouse: Warehouse, config: Config, input: unknown, opts: { now: number; by?: string }): Promise<SetResult> {
  const card = rateCardOf(input);
  const existing = await readCards(warehouse, [card.pool]);
  await checkCurrency(warehouse, card.pool, card.currency, existing);
  return applyChange(warehouse, config, card, existing, { now: opts.now, by: (input as { by?: string }).by ?? opts.by ?? osUser() });
}

const endInput = z.object({
  pool: z.string().trim().min(1, 'must name a pool').max(256),
  at: hourInstant,
  to: hourInstant.optional(),
  reason: z.string().trim().max(2000).optional(),
  by: z.string().trim().min(1).max(256).optional(),
}).strict();

/**
 * End a pool's card from `at` (to `to`, or for good): a version with no price,
 * which as the newest holds those hours, so no card line bills them (the pool
 * decommissioned, or a card set on the wrong pool). Throws RateCardError when
 * the pool has no card.
 */
export async function endRateCard(warehouse: Warehouse, config: Config, input: unknown, opts: { now: number; by?: string }): Promise<SetResult> {
  const parsed = endInput.safeParse(input);
  if (!parsed.success) throw RateCardError.fromZod(parsed.error, 'end');
  const e = parsed.data;
  if (e.to !== undefined && e.to <= e.at) throw new RateCardError('to: must be after at');
  const existing = await readCards(warehouse, [e.pool]);
  const [first] = existing;
  if (first === undefined) throw new RateCardError(`pool: ${e.pool} has no rate card to end`);
  const ended: Omit<RateCard, 'changeId' | 'changedAt' | 'changedBy'> = {
    reason: e.reason ?? '', pool: e.pool, validFrom: e.at, validTo: e.to ?? null, priceUnit: 'none', price: 0n, currency: first.currency,
    gpus: 0, instances: 0, gpusPerInstance: 0, gpuType: '', migProfile: '', migSlices: 0, timeSliced: false, capacity: 0n, hourlyCost: 0n,
  };
  return applyChange(warehouse, config, ended, existing, { now: opts.now, by: e.by ?? opts.by ?? osUser() });
}

/** Record a checked change with what it restates, then write the months it touches. */
async function applyChange(
  warehouse: Warehouse, config: Config, card: Omit<RateCard, 'changeId' | 'changedAt' | 'changedBy'>, existing: readonly CardChange[], opts: { now: number; by: string },
): Promise<SetResult> {
  const changedAt = changeTime(opts.now, existing);
  const change: RateCard = { ...card, changeId: randomUUID(), changedAt, changedBy: opts.by };
  const all = [...existing, change];
  const cardOpts = cardOptions(config, opts.now);
  const horizon = cardHorizon(opts.now);
  const months = change.validFrom < horizon ? monthsOverlapping(change.validFrom, Math.min(change.validTo ?? Infinity, horizon)) : [];
  const plans = await planMonths(warehouse, change.pool, all, months, cardOpts);

  // Old -> new: the versions that held the change's hours before it (beyond the horizon too).
  const lastCut = Math.max(change.validFrom, ...existing.flatMap((c) => [c.validFrom, c.validTo ?? 0])) + HOUR_MS;
  const before = cardSegments(existing, change.validFrom, change.validTo ?? lastCut);
  const replacedCards = [...new Map(before.flatMap((s) => (s.card ? [[s.card.changeId, s.card] as const] : []))).values()];
  const recorded: CardChange = {
    ...change,
    replaced: replacedCards.map((c) => c.changeId),
    replacedText: replacedCards.length === 0 ? '(none)' : replacedCards.map((c) => `${describeCard(c)} (set ${c.changedAt.slice(0, 19)} by ${c.changedBy})`).join('; '),
    restatedHours: plans.reduce((n, p) => n + p.restatedHours, 0),
    restatedCost: plans.reduce((n, p) => n + p.restatedCost, 0n),
    restatedMonths: plans.filter((p) => p.restatedHours > 0).map((p) => formatDate(p.monthStart).slice(0, 7)),
  };
  await warehouse.insertObjects('rate_cards', [cardObject(recorded)]);
  const lines = await writePlans(warehouse, plans, scopeVersionAfter(changedAt, plans), recorded.changeId, cardOpts);
  return { change: recorded, months: plans.map((p) => formatDate(p.monthStart).slice(0, 7)), lines };
}

async function checkCurrency(warehouse: Warehouse, pool: string, currency: string, existing: readonly RateCard[]): Promise<void> {
  const billed = (await warehouse.query(sqlFile('pricing/pool-bill-currencies'), { pool }, z.object({ currency: z.string() }))).map((r) => r.currency);
  const other = billed.find((c) => c !== currency);
  if (other !== undefined) throw new RateCardError(`currency: pool ${pool} is billed in ${billed.join(', ')}; a card in ${currency} would add two currencies in one pool`);
  const card = existing.find((c) => c.currency !== currency);
  if (card !== undefined) throw new RateCardError(`currency: pool ${pool}'s cards are in ${card.currency} (set ${card.changedAt.slice(0, 19)}); one pool's cards use one currency`);
}

function cardObject(c: CardChange): Record<string, unknown> {
  return {
    change_id: c.changeId, changed_at: c.changedAt, changed_by: c.changedBy, reason: c.reason, pool_id: c.pool,
    valid_from: formatDateTime(c.validFrom), valid_to: c.validTo === null ? null : formatDateTime(c.validTo),
    price_unit: c.priceUnit, price: formatScaled(c.price), currency: c.currency, gpus: c.gpus, instances: c.instances,
    gpus_per_instance: c.gpusPerInstance, gpu_type: c.gpuType, mig_profile: c.migProfile, mig_slices: c.migSlices,
    time_sliced: c.timeSliced, capacity_gpus: formatScaled(c.capacity), hourly_cost: formatScaled(c.hourlyCost),
    replaced: c.replaced, replaced_text: c.replacedText, restated_hours: c.restatedHours, restated_cost: formatScaled(c.restatedCost),
    restated_months: c.restatedMonths.map((m) => `${m}-01`),
  };
}

/** Columns of a `pricing import` file: the flags of `pricing set`, without the dashes. */
export const IMPORT_COLUMNS: Readonly<Record<string, string>> = {
  'pool': 'pool', 'per-gpu-hour': 'perGpuHour', 'per-instance-hour': 'perInstanceHour', 'per-slice-hour': 'perSliceHour',
  'monthly': 'monthly', 'currency': 'currency', 'gpus': 'gpus', 'instances': 'instances', 'gpus-per-instance': 'gpusPerInstance',
  'from': 'from', 'to': 'to', 'gpu-type': 'gpuType', 'mig': 'mig', 'slices': 'slices', 'time-sliced': 'timeSliced',
  'reason': 'reason', 'by': 'by',
};

/** The inputs of a CSV file, every line checked before any is applied; an error names the line and the field. */
export function importInputs(text: string): Record<string, unknown>[] {
  let records: Record<string, string>[];
  try {
    records = parse<Record<string, string>>(text, { columns: true, skip_empty_lines: true, trim: true, bom: true });
  } catch (err) {
    throw new RateCardError(`not a CSV file: ${(err as Error).message}`);
  }
  return records.map((record, i) => {
    const input: Record<string, unknown> = {};
    for (const [column, value] of Object.entries(record)) {
      const key = IMPORT_COLUMNS[column];
      if (key === undefined) throw new RateCardError(`line ${i + 2}: unknown column ${JSON.stringify(column)} (columns: ${Object.keys(IMPORT_COLUMNS).join(', ')})`);
      if (value === '') continue;
      if (key === 'timeSliced') {
        if (!['true', 'false', 'yes', 'no', '1', '0'].includes(value.toLowerCase())) throw new RateCardError(`line ${i + 2}: time-sliced: must be true or false, got ${JSON.stringify(value)}`);
        input[key] = ['true', 'yes', '1'].includes(value.toLowerCase());
      } else {
        input[key] = value;
      }
    }
    try {
      rateCardOf({ ...input, by: undefined });
    } catch (err) {
      if (err instanceof RateCardError) throw new RateCardError(`line ${i + 2}: ${err.message}`);
      throw err;
    }
    return input;
  });
}

/** Apply a file's changes in order (each a version of its own); all were checked first. */
export async function importRateCards(warehouse: Warehouse, config: Config, text: string, opts: { now: number; by?: string }): Promise<SetResult[]> {
  const inputs = importInputs(text);
  const results: SetResult[] = [];
  for (const [i, input] of inputs.entries()) {
    try {
      results.push(await setRateCard(warehouse, config, input, opts));
    } catch (err) {
      if (err instanceof RateCardError) throw new RateCardError(`line ${i + 2}: ${err.message}${results.length > 0 ? ` (lines 2..${i + 1} were applied)` : ''}`);
      throw err;
    }
  }
  return results;
}

/** Bring every card month up to date (scheduled; also after a crash between a change's row and its months). */
export async function syncRateCards(warehouse: Warehouse, config: Config, now: number): Promise<SyncResult> {
  const cards = await readCards(warehouse);
  return syncCardMonths(warehouse, cards, cardOptions(config, now), 'pricing-sync', versionText(BigInt(now) * 1000n));
}

function osUser(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? 'unknown';
  }
}
