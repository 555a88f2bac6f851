/**
 * `inferledger collect billing`: GPU cost from AWS Cost Explorer
 * (GetCostAndUsage) into billing_line_items, frugal with paid calls ($0.01 a
 * page) and restatement-aware:
 * - whole UTC days, HOURLY within the last 14 days and DAILY before (or as configured);
 * - GroupBy the pool tag and one dimension (INSTANCE_TYPE by default, for GPU capacity);
 * - each day pulled is a new billing version unless its content is unchanged;
 *   days still Estimated are pulled again on every run, final days only with --refresh;
 * - throttling (LimitExceededException) and timeouts retried with jittered backoff;
 *   a page budget per run: the run stops with a clear error before exceeding it,
 *   keeping what it fetched; every call is recorded in billing_api_calls.
 */
import { createHash, randomUUID } from 'node:crypto';
import { CostExplorerClient, GetCostAndUsageCommand, type GetCostAndUsageCommandOutput } from '@aws-sdk/client-cost-explorer';
import { fromIni } from '@aws-sdk/credential-providers';
import pRetry, { AbortError } from 'p-retry';
import { z } from 'zod';
import type { Config } from '../config/config.js';
import { currentScopes, ImportScopes, recordImport } from '../billing/billing-imports.js';
import { BILLING_COLUMNS, serializeBillingRow, type BillingRow } from '../billing/billing-row.js';
import { formatDateTime64 } from '../events/request-event.js';
import { moneyOverflow, normalizeDecimal } from '../util/decimal.js';
import { sqlFile } from '../warehouse/sql-files.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { DAY_MS, dayStart, formatDate, formatDateTime, parseDate, parseDateTime } from '../util/time.js';

const HOURLY_DAYS = 14;
const MAX_WINDOW_DAYS = { HOURLY: 14, DAILY: 90 } as const;
const PAGE_COST_USD = '0.01';
const USAGE_UNITS = new Set(['Hrs', 'Hours', 'N/A', 'GB', 'GB-Mo', 'GB-Hours', 'Requests', 'Count', 'vCPU-Hours', 'Hrs (Sum)']);
export const COST_EXPLORER_SOURCE = 'aws-cost-explorer';

type Granularity = 'HOURLY' | 'DAILY';

export class CollectError extends Error {
  override name = 'CollectError';
}

export interface CollectOptions {
  from: Date;
  to: Date;
  /** Pull final days again too. */
  refresh?: boolean;
  /** Retry pacing; tests shorten it. */
  retry?: { retries: number; minTimeoutMs: number };
  now?: number;
}

export interface AccountSummary {
  account: string;
  daysPulled: number;
  daysUnchanged: number;
  daysSkippedFinal: number;
  periods: number;
  rows: number;
  pages: number;
  paidCalls: number;
  costUsd: string;
}

export interface CollectSummary {
  runId: string;
  accounts: AccountSummary[];
}

interface Window {
  granularity: Granularity;
  start: number;
  end: number;
}

const pullRow = z.object({ pulled_day: z.string(), estimated: z.boolean(), content_hash: z.string(), version: z.string() });

/** Split the days to pull into request windows of one granularity each. */
export function planWindows(days: readonly number[], granularity: Config['aws']['granularity'], now: number): Window[] {
  const hourlyFrom = dayStart(now) - (HOURLY_DAYS - 1) * DAY_MS;
  const windows: Window[] = [];
  for (const day of [...days].sort((a, b) => a - b)) {
    const g: Granularity = granularity === 'auto' ? (day >= hourlyFrom ? 'HOURLY' : 'DAILY') : granularity;
    if (g === 'HOURLY' && day < hourlyFrom) {
      throw new CollectError(`${formatDate(day)} is older than the ${HOURLY_DAYS} days Cost Explorer keeps hourly data for: collect it with granularity DAILY or auto`);
    }
    const last = windows.at(-1);
    if (last && last.granularity === g && last.end === day && (last.end - last.start) / DAY_MS < MAX_WINDOW_DAYS[g]) last.end = day + DAY_MS;
    else windows.push({ granularity: g, start: day, end: day + DAY_MS });
  }
  return windows;
}

function timePeriod(window: Window): { Start: string; End: string } {
  const fmt = (ms: number): string => (window.granularity === 'HOURLY' ? `${new Date(ms).toISOString().slice(0, 19)}Z` : formatDate(ms));
  return { Start: fmt(window.start), End: fmt(window.end) };
}

function parseBoundary(text: string | undefined): number {
  const ms = text ? (text.length === 10 ? parseDate(text) : Date.parse(text)) : NaN;
  if (!Number.isFinite(ms)) throw new CollectError(`Cost Explorer returned a time period that is not a date: ${String(text)}`);
  return ms;
}

/** `key$value` -> value; `key$` (untagged) -> ''. Splits on the first `$` only: values may contain `$`. */
export function tagValue(key: string, tagKey: string): string {
  const at = key.indexOf('$');
  if (at === -1 || key.slice(0, at) !== tagKey) throw new CollectError(`unexpected group key ${JSON.stringify(key)}: expected ${tagKey}$<value>`);
  return key.slice(at + 1);
}

/** Billing rows of one page. Refuses amounts that are not decimals and units it does not know. */
export function rowsOfPage(page: GetCostAndUsageCommandOutput, account: string, config: Config['aws'], tagKey: string): BillingRow[] {
  const rows: BillingRow[] = [];
  (page.ResultsByTime ?? []).forEach((result, ri) => {
    const start = parseBoundary(result.TimePeriod?.Start);
    const end = parseBoundary(result.TimePeriod?.End);
    (result.Groups ?? []).forEach((group, gi) => {
      const where = `ResultsByTime[${ri}].Groups[${gi}]`;
      const metric = (name: string): { amount: string; unit: string } => {
        const value = group.Metrics?.[name];
        const amount = value?.Amount === undefined ? undefined : normalizeDecimal(value.Amount);
        if (amount === undefined) throw new CollectError(`${where}.Metrics.${name}.Amount is not a decimal: ${JSON.stringify(value?.Amount)}`);
        const overflow = moneyOverflow(amount);
        if (overflow !== undefined) throw new CollectError(`${where}.Metrics.${name}.Amount ${overflow}: ${JSON.stringify(value?.Amount?.slice(0, 40))}`);
        return { amount, unit: value?.Unit ?? '' };
      };
      const cost = metric(config.costMetric);
      const billed = config.costMetric === 'UnblendedCost' ? cost : metric('UnblendedCost');
      const usage = metric('UsageQuantity');
      if (!/^[A-Z]{3}$/.test(cost.unit)) throw new CollectError(`${where}.Metrics.${config.costMetric}.Unit is not a currency: ${JSON.stringify(cost.unit)}`);
      if (!USAGE_UNITS.has(usage.unit)) throw new CollectError(`${where}.Metrics.UsageQuantity.Unit is a unit inferledger does not know: ${JSON.stringify(usage.unit)}`);
      const [poolKey = '', second = ''] = group.Keys ?? [];
      const pool = tagValue(poolKey, tagKey);
      const dimension = config.groupBy[0];
      const month = new Date(start);
      rows.push({
        billing_period_start: formatDateTime(Date.UTC(month.getUTCFullYear(), month.getUTCMonth(), 1)),
        billing_period_end: formatDateTime(Date.UTC(month.getUTCFullYear(), month.getUTCMonth() + 1, 1)),
        billing_period_inferred: false,
        charge_frequency: 'Usage-Based',
        provider: 'AWS',
        billing_account_id: account,
        sub_account_id: dimension === 'LINKED_ACCOUNT' ? second : '',
        charge_period_start: formatDateTime(start),
        charge_period_end: formatDateTime(end),
        billed_cost: billed.amount,
        effective_cost: cost.amount,
        list_cost: billed.amount,
        billing_currency: cost.unit,
        consumed_quantity: usage.amount,
        consumed_unit: usage.unit,
        resource_id: '',
        resource_type: '',
        instance_type: dimension === 'INSTANCE_TYPE' && second !== 'NoInstanceType' ? second : '',
        service_name: dimension === 'SERVICE' ? second : '',
        charge_category: 'Usage',
        charge_class: '',
        sku_id: '',
        region: dimension === 'REGION' ? second : '',
        tags: pool === '' ? {} : { [tagKey]: pool },
        is_estimated: result.Estimated === true,
      });
    });
  });
  return rows;
}

const RETRYABLE = new Set(['LimitExceededException', 'ThrottlingException', 'TooManyRequestsException', 'TimeoutError', 'AbortError', 'RequestTimeout']);

export async function collectBilling(warehouse: Warehouse, config: Config, options: CollectOptions, log: (line: string) => void = () => undefined): Promise<CollectSummary> {
  const now = options.now ?? Date.now();
  const runId = randomUUID();
  // The version is when the pull happened (wall clock, to the microsecond), whatever `now` the window was planned with.
  const version = `${formatDateTime64(Date.now())}${String(Math.floor((performance.now() % 1) * 1000)).padStart(3, '0')}`;
  const days: number[] = [];
  for (let d = dayStart(options.from.getTime()); d < options.to.getTime(); d += DAY_MS) days.push(d);
  if (days.length === 0) throw new CollectError('--to must be after --from');
  // Refuse an impossible window before spending anything.
  planWindows(days, config.aws.granularity, now);

  const budget = { pages: 0 };
  const summary: CollectSummary = { runId, accounts: [] };
  const accounts = config.aws.accounts.length > 0 ? config.aws.accounts : [{ id: 'default', profile: undefined }];
  for (const account of accounts) {
    const client = new CostExplorerClient({
      region: config.aws.region,
      maxAttempts: 1, // retries are ours: jittered, and counted against the budget
      ...(config.aws.endpoint ? { endpoint: config.aws.endpoint } : {}),
      ...(account.profile ? { credentials: fromIni({ profile: account.profile }) } : {}),
    });
    try {
      summary.accounts.push(await collectAccount(warehouse, client, config, account.id, days, options, { runId, version, now, budget, accounts: accounts.map((a) => a.id) }, log));
    } finally {
      client.destroy();
    }
  }
  return summary;
}

async function collectAccount(
  warehouse: Warehouse,
  client: CostExplorerClient,
  config: Config,
  account: string,
  days: number[],
  options: CollectOptions,
  run: { runId: string; version: string; now: number; budget: { pages: number }; accounts: string[] },
  log: (line: string) => void,
): Promise<AccountSummary> {
  const summary: AccountSummary = { account, daysPulled: 0, daysUnchanged: 0, daysSkippedFinal: 0, periods: 0, rows: 0, pages: 0, paidCalls: 0, costUsd: '0' };
  const previous = new Map(
    (await warehouse.query(
      sqlFile('queries/billing-pulls-of-days'),
      { account, from: formatDate(days[0] ?? 0), to: formatDate((days.at(-1) ?? 0) + DAY_MS) },
      pullRow,
    )).map((r) => [r.pulled_day, r]),
  );
  const toPull = days.filter((d) => {
    const pulled = previous.get(formatDate(d));
    const final = pulled !== undefined && !pulled.estimated;
    if (final && options.refresh !== true) summary.daysSkippedFinal++;
    return !final || options.refresh === true;
  });
  const tagKey = config.billing.poolTagKey;
  const calls: Record<string, unknown>[] = [];
  const record = (window: Window, page: number, groups: number, outcome: string): void => {
    summary.paidCalls++;
    calls.push({
      called_at: new Date().toISOString(), run_id: run.runId, account, operation: 'GetCostAndUsage', granularity: window.granularity,
      period_start: formatDateTime(window.start), period_end: formatDateTime(window.end),
      page, groups, outcome, cost_usd: PAGE_COST_USD,
    });
  };
  const rowsByDay = new Map<number, BillingRow[]>(toPull.map((d) => [d, []]));
  // Days any of whose periods Cost Explorer marked Estimated, with or without groups.
  const estimatedDays = new Set<number>();
  // Days every page of which was fetched: only those are written when a run stops early.
  const complete: number[] = [];
  let current: Window | undefined;
  let failure: unknown;
  try {
    for (const window of planWindows(toPull, config.aws.granularity, run.now)) {
      current = window;
      const seenTokens = new Set<string>();
      let token: string | undefined;
      let page = 0;
      do {
        page++;
        const pageNumber = page;
        const requestToken = token;
        const response = await pRetry(
          async () => {
            if (run.budget.pages >= config.aws.maxPagesPerRun) {
              throw new AbortError(new CollectError(`request budget reached: ${config.aws.maxPagesPerRun} paid calls this run (aws.maxPagesPerRun); what was fetched is kept`));
            }
            run.budget.pages++;
            try {
              const out = await client.send(
                new GetCostAndUsageCommand({
                  TimePeriod: timePeriod(window),
                  Granularity: window.granularity,
                  Metrics: [...new Set([config.aws.costMetric, 'UnblendedCost', 'UsageQuantity'])],
                  GroupBy: [{ Type: 'TAG', Key: tagKey }, ...config.aws.groupBy.map((Key) => ({ Type: 'DIMENSION' as const, Key }))],
                  ...(config.aws.filter ? { Filter: config.aws.filter } : {}),
                  ...(requestToken ? { NextPageToken: requestToken } : {}),
                }),
                { abortSignal: AbortSignal.timeout(config.aws.requestTimeoutMs) },
              );
              record(window, pageNumber, (out.ResultsByTime ?? []).reduce((n, r) => n + (r.Groups?.length ?? 0), 0), 'ok');
              return out;
            } catch (err) {
              const name = (err as Error).name;
              record(window, pageNumber, 0, name);
              if (RETRYABLE.has(name)) throw err;
              throw new AbortError(explain(err));
            }
          },
          {
            retries: options.retry?.retries ?? 5,
            minTimeout: options.retry?.minTimeoutMs ?? 500,
            factor: 2,
            randomize: true,
            onFailedAttempt: (e) => { log(`  ${account}: ${e.name}, retry ${e.attemptNumber} of ${e.attemptNumber + e.retriesLeft - 1}`); },
          },
        );
        summary.pages++;
        for (const result of response.ResultsByTime ?? []) {
          if (result.Estimated === true) estimatedDays.add(dayStart(parseBoundary(result.TimePeriod?.Start)));
        }
        for (const row of rowsOfPage(response, account, config.aws, tagKey)) {
          const day = dayStart(parseDateTime(row.charge_period_start));
          rowsByDay.get(day)?.push(row);
        }
        token = response.NextPageToken;
        if (token !== undefined) {
          if (seenTokens.has(token)) throw new CollectError(`Cost Explorer returned the NextPageToken ${JSON.stringify(token)} twice: stopping instead of looping`);
          seenTokens.add(token);
        }
      } while (token !== undefined);
      for (let day = window.start; day < window.end; day += DAY_MS) complete.push(day);
      current = undefined;
    }
  } catch (err) {
    failure = err;
    // Pages come in time order: in the window that failed, days before the last one seen are whole.
    if (current) {
      const last = lastFetchedDay(rowsByDay, current);
      for (let day = current.start; day < last; day += DAY_MS) complete.push(day);
    }
  }
  const pull = { account, tagKey, version: run.version, runId: run.runId, granularity: config.aws.granularity, now: run.now, accounts: run.accounts };
  await writeDays(warehouse, pull, complete, { rowsByDay, estimatedDays }, previous, summary);
  if (calls.length > 0) await warehouse.insertObjects('billing_api_calls', calls);
  // Whole cents, formatted without a float: each call costs one.
  summary.costUsd = `${Math.floor(summary.paidCalls / 100)}.${String(summary.paidCalls % 100).padStart(2, '0')}`;
  if (failure !== undefined) throw failure instanceof Error ? failure : new CollectError('collection failed');
  return summary;
}

/** The last day of a window holding rows (it may be partial); the window's start when none. */
function lastFetchedDay(rowsByDay: Map<number, BillingRow[]>, window: Window): number {
  let last = window.start;
  for (const [day, rows] of rowsByDay) if (rows.length > 0 && day >= window.start && day < window.end && day > last) last = day;
  return last;
}

/** A day's month has closed when the pull happens after the month ends. */
function monthClosed(day: number, now: number): boolean {
  const d = new Date(day);
  return now >= Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
}

/**
 * Write the whole days fetched, then record them complete in one insert (the
 * days become visible together). A day is final only when Cost Explorer said
 * its data is not Estimated; a day with no cost stays open (pulled again) until
 * a later pull brings data or its month has closed.
 */
async function writeDays(
  warehouse: Warehouse,
  pull: { account: string; tagKey: string; version: string; runId: string; granularity: string; now: number; accounts: readonly string[] },
  days: readonly number[],
  fetched: { rowsByDay: Map<number, BillingRow[]>; estimatedDays: Set<number> },
  previous: Map<string, z.infer<typeof pullRow>>,
  summary: AccountSummary,
): Promise<void> {
  const { account, version, granularity } = pull;
  const provenance = { billingVersion: version, source: COST_EXPLORER_SOURCE, sourceFile: 'GetCostAndUsage', poolTagKey: pull.tagKey, scope: 'day' } as const;
  const scopes = new ImportScopes(COST_EXPLORER_SOURCE, 'day');
  const lines: string[] = [];
  const pulls: Record<string, unknown>[] = [];
  const pulledAt = new Date().toISOString();
  for (const day of days) {
    const rows = fetched.rowsByDay.get(day) ?? [];
    const content = rows.map((r) => JSON.stringify(r)).sort().join('\n');
    const hash = createHash('sha256').update(content).digest('hex');
    const estimated = rows.some((r) => r.is_estimated) || fetched.estimatedDays.has(day) || (rows.length === 0 && !monthClosed(day, pull.now));
    const before = previous.get(formatDate(day));
    summary.periods += new Set(rows.map((r) => r.charge_period_start)).size;
    if (before?.content_hash === hash) {
      summary.daysUnchanged++;
      // Same content, but the day may have become final (or an empty day's month closed).
      if (before.estimated !== estimated) pulls.push({ account, day: formatDate(day), billing_version: before.version, content_hash: hash, estimated, granularity, rows: rows.length, pulled_at: pulledAt });
      continue;
    }
    summary.daysPulled++;
    summary.rows += rows.length;
    for (const r of rows) {
      lines.push(serializeBillingRow(r, provenance, 0));
      scopes.add(r);
    }
    // A day now without cost is restated to nothing, not left holding an older version.
    if (rows.length === 0) scopes.addEmpty(account, formatDateTime(day), formatDateTime(day + DAY_MS));
    pulls.push({ account, day: formatDate(day), billing_version: version, content_hash: hash, estimated, granularity, rows: rows.length, pulled_at: pulledAt });
  }
  // Accounts no longer configured (e.g. `default` before a list of accounts, or the other way round)
  // are restated to nothing for the days pulled, so old rows never sit beside new ones.
  if (days.length > 0) {
    const from = formatDateTime(Math.min(...days));
    const to = formatDateTime(Math.max(...days) + DAY_MS);
    const whole = new Set(days.map((d) => formatDateTime(d)));
    for (const other of await currentScopes(warehouse, COST_EXPLORER_SOURCE, from, to)) {
      if (other.rows === 0 || pull.accounts.includes(other.account) || !whole.has(other.start)) continue;
      scopes.addEmpty(other.account, other.start, other.end);
      // Pulled again should it be configured again.
      pulls.push({ account: other.account, day: other.start.slice(0, 10), billing_version: version, content_hash: '', estimated: true, granularity, rows: 0, pulled_at: pulledAt });
    }
  }
  if (lines.length > 0) await warehouse.insertCompact('billing_line_items', BILLING_COLUMNS, `${lines.join('\n')}\n`);
  await recordImport(warehouse, scopes, version, pull.runId);
  if (pulls.length > 0) await warehouse.insertObjects('billing_pulls', pulls);
}

/** A clear message for errors that will not get better by retrying. */
function explain(err: unknown): Error {
  const e = err as Error & { $metadata?: { httpStatusCode?: number } };
  if (e.name === 'ExpiredTokenException' || e.name === 'ExpiredToken') {
    return new CollectError('AWS credentials have expired: refresh them (e.g. `aws sso login` or new session keys) and run again');
  }
  if (e.name === 'CredentialsProviderError') return new CollectError(`no AWS credentials found: ${e.message}`);
  if (e.name === 'AccessDeniedException' || e.$metadata?.httpStatusCode === 403) return new CollectError(`Cost Explorer refused the call (${e.name}): ${e.message}`);
  return new CollectError(`Cost Explorer: ${e.name}: ${e.message}`);
}
