/**
 * Attribution: its freshness (now minus the end of the newest fully
 * attributed hour, worked out as the service does) and what it covers over
 * the days the service attributes (jobs.billingStart, by default the first
 * day of the previous month, to today): requests still waiting for their
 * bill, traffic on pools the bill does not know, cost without the pool tag,
 * and Cost Explorer estimates that should be final by now.
 */
import { z } from 'zod';
import { AttributionSettingsConflict, attributionSettingsFor } from '../attribution/recorded-settings.js';
import { attributedThrough, billingStartDay } from '../scheduler/watermarks.js';
import { DAY_MS, dayStart, formatDate, formatDateTime, HOUR_MS, monthStart } from '../util/time.js';
import { cents, fixed, units } from '../util/decimal.js';
import { sqlFile } from '../warehouse/sql-files.js';
import { age, count, fail, ok, some, Unavailable, warn, type Check, type CheckOutcome, type DoctorContext } from './check.js';

/** Freshness over this is a warning: attribution lags its inputs by more than a pass or two. */
export const FRESHNESS_WARN_MS = 2 * HOUR_MS;
/** Freshness over this is a failure: more than a day of traffic or bill is not in the numbers. */
export const FRESHNESS_FAIL_MS = 26 * HOUR_MS;
/** Requests may wait this many days for their bill (Cost Explorer and exports come a day or so late); older ones are a warning. */
export const PENDING_GRACE_DAYS = 2;
/** Cost billed without the pool tag above this share of the bill is a warning. */
export const UNALLOCATED_WARN_SHARE = 0.05;
/** Cost Explorer estimates of a month that closed more than this many days ago are a warning (it finalises a month within days). */
export const ESTIMATED_GRACE_DAYS = 7;

const RECOMPUTE = 'is `inferledger run` running (the attribute job)? inferledger jobs list, then `inferledger jobs run attribute`';

/** Freshness from the warehouse now; from what a worker last recorded in Redis when the warehouse is away. */
export const freshnessCheck: Check = {
  name: 'freshness',
  group: 'freshness',
  timeoutMs: 20_000,
  errorFix: RECOMPUTE,
  run: async (ctx) => {
    let through: number;
    let openDays: number;
    let source: string;
    try {
      const { warehouse } = await ctx.warehouse();
      // The database's settings, as the jobs use them (a process configuring others does not change what is attributed).
      const settings = await attributionSettingsFor(warehouse, ctx.config.attribution, { readOnly: true, by: 'inferledger doctor' })
        .catch((err: unknown) => { if (err instanceof AttributionSettingsConflict) return err.recorded.settings; throw err; });
      ({ through, openDays } = await attributedThrough(warehouse, settings, billingStartDay(ctx.config, ctx.now), ctx.now));
      source = 'worked out from the warehouse';
    } catch (err) {
      if (!(err instanceof Unavailable)) throw err;
      const recorded = await ctx.runtime().then((r) => r.freshness()).catch(() => undefined);
      if (recorded === undefined) throw err;
      ({ openDays } = recorded);
      through = Date.parse(recorded.through);
      source = `as a worker recorded it ${age(ctx.now - Date.parse(recorded.at))} ago (the warehouse did not answer)`;
    }
    const lag = Math.max(0, ctx.now - through);
    const data = { seconds: Math.floor(lag / 1000), attributedThrough: new Date(through).toISOString(), openDays, source };
    const said = `${age(lag)}: newest fully attributed hour ends ${new Date(through).toISOString().slice(0, 16)}Z${openDays > 0 ? `, ${openDays} day(s) open` : ''} (${source})`;
    if (lag > FRESHNESS_FAIL_MS) return fail(`${said}; over ${age(FRESHNESS_FAIL_MS)}`, RECOMPUTE, data);
    if (lag > FRESHNESS_WARN_MS) return warn(`${said}; over ${age(FRESHNESS_WARN_MS)}`, RECOMPUTE, data);
    return ok(said, data);
  },
};

/** The days coverage looks at: the ones the service attributes, today included. */
function window(ctx: DoctorContext): { from: number; to: number } {
  return { from: billingStartDay(ctx.config, ctx.now), to: dayStart(ctx.now) + DAY_MS };
}

const requestsRow = z.object({
  days: z.coerce.number(),
  requests: z.coerce.number(),
  pending: z.coerce.number(),
  late_pending: z.coerce.number(),
  first_pending_day: z.string(),
  unknown_pool: z.coerce.number(),
}).transform((r) => ({ days: r.days, requests: r.requests, pending: r.pending, latePending: r.late_pending, firstPendingDay: r.first_pending_day, unknownPool: r.unknown_pool }));
type RequestCoverage = z.output<typeof requestsRow>;
const costRow = z.object({
  currency_code: z.string(),
  billed_total: z.string(),
  unallocated_total: z.string(),
  estimated_total: z.string(),
  stale_estimated_total: z.string(),
}).transform((r) => ({
  currency: r.currency_code, billed: units(r.billed_total), unallocated: units(r.unallocated_total),
  estimated: units(r.estimated_total), staleEstimated: units(r.stale_estimated_total),
}));
type CostCoverage = z.output<typeof costRow>;
const poolRow = z.object({ pool_id: z.string(), requests: z.coerce.number(), first_hour: z.string(), last_hour: z.string() });

/** One read of each coverage query per doctor run, whichever check asks first. */
const memo = new WeakMap<DoctorContext, Map<string, Promise<unknown>>>();
function once<T>(ctx: DoctorContext, key: string, read: () => Promise<T>): Promise<T> {
  let cache = memo.get(ctx);
  if (!cache) memo.set(ctx, (cache = new Map<string, Promise<unknown>>()));
  let value = cache.get(key) as Promise<T> | undefined;
  if (!value) cache.set(key, (value = read()));
  return value;
}

function requestCoverage(ctx: DoctorContext): Promise<RequestCoverage> {
  return once(ctx, 'requests', async () => {
    const { warehouse } = await ctx.warehouse();
    const { from, to } = window(ctx);
    const [row] = await warehouse.query(sqlFile('doctor/coverage-requests'), {
      from: formatDate(from), to: formatDate(to), pending_before: formatDate(dayStart(ctx.now) - PENDING_GRACE_DAYS * DAY_MS),
    }, requestsRow);
    return row ?? { days: 0, requests: 0, pending: 0, latePending: 0, firstPendingDay: '', unknownPool: 0 };
  });
}

function costCoverage(ctx: DoctorContext): Promise<CostCoverage[]> {
  return once(ctx, 'cost', async () => {
    const { warehouse } = await ctx.warehouse();
    const { from, to } = window(ctx);
    return warehouse.query(sqlFile('doctor/coverage-cost'), {
      from: formatDateTime(from), to: formatDateTime(to), estimated_before: formatDateTime(monthStart(ctx.now - ESTIMATED_GRACE_DAYS * DAY_MS)),
    }, costRow);
  });
}

const since = (ctx: DoctorContext): string => `since ${formatDate(window(ctx).from)}`;
const percent = (share: number): string => `${(share * 100).toFixed(1)} %`;
const ATTRIBUTE_FIRST = 'inferledger migrate, then let the attribute job run (inferledger jobs run attribute)';

export const pendingCheck: Check = {
  name: 'pending-bill',
  group: 'coverage',
  timeoutMs: 20_000,
  errorFix: ATTRIBUTE_FIRST,
  run: async (ctx) => {
    const r = await requestCoverage(ctx);
    const data = { ...r, graceDays: PENDING_GRACE_DAYS };
    if (r.days === 0) return ok(`nothing attributed ${since(ctx)}`, data);
    if (r.latePending > 0) {
      const cutoff = formatDate(dayStart(ctx.now) - PENDING_GRACE_DAYS * DAY_MS);
      return warn(
        `${count(r.latePending)} requests of days before ${cutoff} still wait for their bill (the first on ${r.firstPendingDay})`,
        ctx.config.jobs.billingPull
          ? 'inferledger jobs list (billing-pull), `inferledger jobs run billing-pull`; or import the bill: inferledger ingest billing <file>'
          : 'import the bill of those days: inferledger ingest billing <file> (jobs.billingPull is off)',
        data,
      );
    }
    if (r.pending > 0) return ok(`${count(r.pending)} of ${count(r.requests)} requests wait for the bill of the last ${PENDING_GRACE_DAYS} days (as expected)`, data);
    return ok(`no request waits for its bill (${count(r.requests)} requests ${since(ctx)})`, data);
  },
};

export const unknownPoolsCheck: Check = {
  name: 'unknown-pools',
  group: 'coverage',
  timeoutMs: 20_000,
  errorFix: ATTRIBUTE_FIRST,
  run: async (ctx) => {
    const r = await requestCoverage(ctx);
    if (r.unknownPool === 0) return ok(`every pool with traffic ${since(ctx)} is on the bill`, { requests: 0, pools: [] });
    const { warehouse } = await ctx.warehouse();
    const { from, to } = window(ctx);
    const pools = await warehouse.query(sqlFile('doctor/unknown-pools'), { from: formatDateTime(from), to: formatDateTime(to), limit: 20 }, poolRow);
    const named = pools.map((p) => {
      const [first, last] = [p.first_hour.slice(0, 10), p.last_hour.slice(0, 10)];
      return `${p.pool_id || '(no pool)'} (${count(p.requests)} requests, ${first === last ? first : `${first}..${last}`})`;
    });
    const tag = ctx.config.billing.poolTagKey;
    return fail(
      `${count(r.unknownPool)} requests ${since(ctx)} ran on pools the bill does not know${named.length > 0 ? `: ${some(named)}` : ''}`,
      `tag the pool's instances ${tag}=<pool id> on the bill (billing.poolTagKey names the tag), or correct pool_id in the events; then the attribute job picks the days up`,
      { requests: r.unknownPool, pools },
    );
  },
};

/** part / whole, exactly enough for a percentage (0 when nothing is billed). */
function share(part: bigint, whole: bigint): number {
  return whole <= 0n ? 0 : Number((part * 1_000_000n) / whole) / 1_000_000;
}

/** Each currency's amount of a measure against its bill: `USD 12.00 of 2,400.00 (0.5 %)`. */
function byCurrency(rows: readonly CostCoverage[], pick: (r: CostCoverage) => bigint): string {
  return rows.map((r) => `${r.currency} ${cents(pick(r))} of ${cents(r.billed)} (${percent(share(pick(r), r.billed))})`).join(', ');
}

const money = (rows: readonly CostCoverage[], pick: (r: CostCoverage) => bigint): Record<string, unknown>[] =>
  rows.map((r) => ({ currency: r.currency, billed: fixed(r.billed), amount: fixed(pick(r)), share: share(pick(r), r.billed) }));

export const unallocatedCheck: Check = {
  name: 'unallocated',
  group: 'coverage',
  timeoutMs: 20_000,
  errorFix: ATTRIBUTE_FIRST,
  run: async (ctx): Promise<CheckOutcome> => {
    const rows = (await costCoverage(ctx)).filter((r) => r.currency !== '');
    const data = { currencies: money(rows, (r) => r.unallocated), warnShare: UNALLOCATED_WARN_SHARE };
    if (rows.length === 0) return ok(`no bill attributed ${since(ctx)}`, data);
    const said = byCurrency(rows, (r) => r.unallocated);
    if (rows.some((r) => share(r.unallocated, r.billed) > UNALLOCATED_WARN_SHARE)) {
      return warn(`${said} billed without the pool tag ${since(ctx)} (over ${percent(UNALLOCATED_WARN_SHARE)})`, `tag the GPU instances with ${ctx.config.billing.poolTagKey} (billing.poolTagKey); untagged cost is reported as (unallocated)`, data);
    }
    return ok(`${said} without the pool tag ${since(ctx)}`, data);
  },
};

export const estimatedCheck: Check = {
  name: 'estimated',
  group: 'coverage',
  timeoutMs: 20_000,
  errorFix: ATTRIBUTE_FIRST,
  run: async (ctx): Promise<CheckOutcome> => {
    const rows = (await costCoverage(ctx)).filter((r) => r.currency !== '');
    const closedBefore = formatDate(monthStart(ctx.now - ESTIMATED_GRACE_DAYS * DAY_MS));
    const data = { currencies: money(rows, (r) => r.estimated), staleEstimated: money(rows, (r) => r.staleEstimated), closedBefore };
    if (rows.length === 0) return ok(`no bill attributed ${since(ctx)}`, data);
    const stale = rows.filter((r) => r.staleEstimated !== 0n);
    if (stale.length > 0) {
      return warn(
        `${stale.map((r) => `${r.currency} ${cents(r.staleEstimated)}`).join(', ')} of months before ${closedBefore} still Cost Explorer estimates`,
        `pull those days again: inferledger jobs run billing-pull --from <day> --to ${closedBefore} (or inferledger collect billing --refresh)`,
        data,
      );
    }
    return ok(`${byCurrency(rows, (r) => r.estimated)} still estimated ${since(ctx)}`, data);
  },
};
