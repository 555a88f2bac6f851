/**
 * One version of a pool's rate card, as `pricing set` and `pricing import`
 * take it (validated here, with a message naming the field), and what it
 * derives: the cost of one hour, and the pool's compute capacity in GPUs.
 *
 * Prices (exactly one of them):
 *   perGpuHour      x gpus (physical GPUs; for MIG the GPUs the slices sit on)
 *   perInstanceHour x instances (gpus = instances x gpusPerInstance)
 *   perSliceHour    x MIG slices
 *   monthly         spread over the month's hours like a monthly charge on a bill
 * Capacity: the physical GPUs, or for MIG the slices' compute share (14 x
 * 1g.10gb on 2 H100s = 2 GPUs). Time-sliced GPUs keep the physical GPUs as
 * capacity: overlapping requests' GPU time is capped as batching already is.
 */
import { z } from 'zod';
import { currencyCode } from '../billing/billing-row.js';
import { divideHalfEven, formatScaled, moneyOverflow, normalizeDecimal, toScaled, UNIT } from '../util/decimal.js';
import { HOUR_MS, parseInstant } from '../util/time.js';
import { COMPUTE_SLICES_PER_GPU, migProfile } from '../attribution/mig-catalog.js';

/** `none`: an ended card (`pricing end`): the hours it holds are not priced. */
export const PRICE_UNITS = ['gpu-hour', 'instance-hour', 'slice-hour', 'month', 'none'] as const;
export type PriceUnit = (typeof PRICE_UNITS)[number];

/** A price: decimal text, not negative, at most 12 decimals (exact, never rounded). */
const priceText = z.string().trim().transform((text, ctx) => {
  const exact = normalizeDecimal(text, 30);
  if (exact === undefined) {
    ctx.addIssue({ code: 'custom', message: `must be a decimal amount, got ${JSON.stringify(text)}` });
    return z.NEVER;
  }
  if (exact.startsWith('-')) {
    ctx.addIssue({ code: 'custom', message: `must not be negative, got ${text}` });
    return z.NEVER;
  }
  const normal = normalizeDecimal(text);
  if (normal === undefined || toScaled(exact, 30) !== toScaled(normal) * 10n ** 18n) {
    ctx.addIssue({ code: 'custom', message: `has more than 12 decimals: ${text}` });
    return z.NEVER;
  }
  const overflow = moneyOverflow(normal);
  if (overflow !== undefined) {
    ctx.addIssue({ code: 'custom', message: overflow });
    return z.NEVER;
  }
  return normal;
});

/** An instant on a whole UTC hour: 2026-10-01, 2026-10-01T06:00Z, 2026-10-01T08:00+02:00. */
export const hourInstant = z.string().trim().transform((text, ctx) => {
  const ms = parseInstant(text);
  if (!Number.isFinite(ms)) {
    ctx.addIssue({ code: 'custom', message: `must be an ISO-8601 date (2026-10-01) or date-time with a zone (2026-10-01T00:00Z), got ${JSON.stringify(text)}` });
    return z.NEVER;
  }
  if (ms % HOUR_MS !== 0) {
    ctx.addIssue({ code: 'custom', message: `must fall on a whole UTC hour (cards price whole hours), got ${text}` });
    return z.NEVER;
  }
  return ms;
});

const count = z.coerce.number().int('must be a whole number').positive('must be at least 1').max(1_000_000);

export const rateCardInput = z.object({
  pool: z.string().trim().min(1, 'must name a pool').max(256),
  perGpuHour: priceText.optional(),
  perInstanceHour: priceText.optional(),
  perSliceHour: priceText.optional(),
  monthly: priceText.optional(),
  currency: currencyCode,
  gpus: count.optional(),
  instances: count.optional(),
  gpusPerInstance: count.optional(),
  from: hourInstant,
  to: hourInstant.optional(),
  gpuType: z.string().trim().max(64).optional(),
  mig: z.string().trim().min(1).max(32).optional(),
  slices: count.optional(),
  timeSliced: z.boolean().optional(),
  reason: z.string().trim().max(2000).optional(),
  by: z.string().trim().min(1).max(256).optional(),
}).strict();

export type RateCardInput = z.input<typeof rateCardInput>;

/** A card version as stored (rate_cards) and as the timeline reads it. */
export interface RateCard {
  changeId: string;
  /** 'YYYY-MM-DD hh:mm:ss.ffffff' (UTC): orders versions; the newest holds an hour. */
  changedAt: string;
  changedBy: string;
  reason: string;
  pool: string;
  validFrom: number;
  /** Exclusive; null = open-ended. */
  validTo: number | null;
  priceUnit: PriceUnit;
  /** Units of 1e-12. */
  price: bigint;
  currency: string;
  gpus: number;
  instances: number;
  gpusPerInstance: number;
  gpuType: string;
  migProfile: string;
  migSlices: number;
  timeSliced: boolean;
  /** GPUs of compute, in units of 1e-12. */
  capacity: bigint;
  /** Units of 1e-12; 0 for a monthly price. */
  hourlyCost: bigint;
}

export class RateCardError extends Error {
  /** The first problem zod found, named by its field (`what` when it has none). */
  static fromZod(error: z.ZodError, what: string): RateCardError {
    const issue = error.issues[0];
    const field = issue?.path.join('.') ?? '';
    return new RateCardError(`${field === '' ? what : field}: ${issue?.message ?? 'invalid'}`);
  }
}

/** Validate an input and derive its card (without change id, time and author, which the caller gives). */
export function rateCardOf(raw: unknown): Omit<RateCard, 'changeId' | 'changedAt' | 'changedBy'> {
  const parsed = rateCardInput.safeParse(raw);
  if (!parsed.success) throw RateCardError.fromZod(parsed.error, 'rate card');
  const c = parsed.data;
  const prices = ([['perGpuHour', 'gpu-hour'], ['perInstanceHour', 'instance-hour'], ['perSliceHour', 'slice-hour'], ['monthly', 'month']] as const)
    .filter(([key]) => c[key] !== undefined);
  if (prices.length !== 1) throw new RateCardError(`price: give exactly one of perGpuHour, perInstanceHour, perSliceHour, monthly (got ${prices.length})`);
  const [priceKey, priceUnit] = prices[0] as (typeof prices)[number];
  const price = toScaled(c[priceKey] as string);
  if (c.to !== undefined && c.to <= c.from) throw new RateCardError('to: must be after from');

  let gpus = c.gpus;
  if (priceUnit === 'instance-hour' || c.instances !== undefined || c.gpusPerInstance !== undefined) {
    if (c.instances === undefined || c.gpusPerInstance === undefined) throw new RateCardError('instances: a price per instance-hour needs instances and gpusPerInstance');
    const fromInstances = c.instances * c.gpusPerInstance;
    if (gpus !== undefined && gpus !== fromInstances) throw new RateCardError(`gpus: ${gpus} differs from instances x gpusPerInstance = ${fromInstances}`);
    gpus = fromInstances;
  }
  if (gpus === undefined) throw new RateCardError('gpus: say how many physical GPUs the pool has (gpus, or instances and gpusPerInstance)');

  let capacity = BigInt(gpus) * UNIT;
  let gpuType = c.gpuType ?? '';
  let migName = '';
  let slices = 0;
  if (c.mig !== undefined || c.slices !== undefined || priceUnit === 'slice-hour') {
    if (c.mig === undefined || c.slices === undefined) throw new RateCardError('mig: MIG slices need both mig (the profile) and slices');
    if (c.timeSliced === true) throw new RateCardError('timeSliced: a pool is MIG-partitioned or time-sliced, not both');
    if (c.gpuType === undefined) throw new RateCardError('gpuType: MIG slices need the GPU type, to find the profile in the catalog');
    const found = migProfile(c.gpuType, c.mig);
    if ('error' in found) throw new RateCardError(`mig: ${found.error}`);
    const most = gpus * found.profile.perGpu;
    if (c.slices > most) throw new RateCardError(`slices: ${gpus} ${found.type} hold at most ${most} slices of ${c.mig} (${found.profile.perGpu} per GPU), got ${c.slices}`);
    gpuType = found.type;
    migName = c.mig.toLowerCase();
    slices = c.slices;
    capacity = divideHalfEven(BigInt(slices * found.profile.computeSlices) * UNIT, BigInt(COMPUTE_SLICES_PER_GPU));
  }
  const multiplier = { 'gpu-hour': gpus, 'instance-hour': c.instances ?? 0, 'slice-hour': slices, 'month': 0, 'none': 0 }[priceUnit];
  const hourlyCost = price * BigInt(multiplier);
  const overflow = moneyOverflow(formatScaled(hourlyCost));
  if (overflow !== undefined) throw new RateCardError(`price: the cost of an hour ${overflow}`);
  return {
    reason: c.reason ?? '',
    pool: c.pool,
    validFrom: c.from,
    validTo: c.to ?? null,
    priceUnit,
    price,
    currency: c.currency,
    gpus,
    instances: c.instances ?? 0,
    gpusPerInstance: c.gpusPerInstance ?? 0,
    gpuType,
    migProfile: migName,
    migSlices: slices,
    timeSliced: c.timeSliced === true,
    capacity,
    hourlyCost,
  };
}

/** A card in words: "2.40 USD per GPU-hour x 8 GPUs", as history and reports show it. */
export function describeCard(card: Pick<RateCard, 'priceUnit' | 'price' | 'currency' | 'gpus' | 'instances' | 'gpusPerInstance' | 'migProfile' | 'migSlices' | 'gpuType' | 'timeSliced' | 'capacity'>): string {
  const amount = `${formatScaled(card.price)} ${card.currency}`;
  const type = card.gpuType === '' ? '' : ` ${card.gpuType}`;
  const what = card.migSlices > 0
    ? `${card.migSlices} x ${card.migProfile} on ${card.gpus}${type} (${formatScaled(card.capacity)} GPUs)`
    : card.instances > 0
      ? `${card.instances} instances x ${card.gpusPerInstance}${type} GPUs`
      : `${card.gpus}${type} GPUs${card.timeSliced ? ', time-sliced' : ''}`;
  switch (card.priceUnit) {
    case 'gpu-hour': return `${amount} per GPU-hour x ${what}`;
    case 'instance-hour': return `${amount} per instance-hour x ${what}`;
    case 'slice-hour': return `${amount} per slice-hour x ${what}`;
    case 'month': return `${amount} a month for ${what}`;
    case 'none': return 'no price (card ended)';
  }
}
