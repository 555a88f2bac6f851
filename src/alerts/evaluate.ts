/**
 * CPP regression alerts: evaluation. SQL (sql/alerts/) gives per key and day
 * the requests and both costs (and, for the days alerts name, the cells that
 * explain a change, once per run); this module judges each
 * complete day against a robust baseline (the median of the trailing
 * comparable days, their spread deciding how unusual a change is), runs the
 * episode state machine with hysteresis, stores the alerts and sends
 * notifications on open and resolve.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { Config } from '../config/config.js';
import { sqlFile } from '../warehouse/sql-files.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { evaluateBudgetsOn } from './budgets.js';
import { decompose, lowerMedianIndex, robustSpread, type Cell, type Decomposition, type Metric } from './decompose.js';
import { explain, type FactorContext } from './explain.js';
import { notify, type DeliveryResult, type Transition } from './notify.js';
import { latestAlerts, nextVersion, NO_BUDGET, nowText, writeAlerts, type AlertRow } from './store.js';

export type AlertSettings = Config['alerts'];
const DAY_MS = 86_400_000;

/** A key's days as parallel arrays; a day is its offset from the window's first day. */
const keyDaysRow = z.object({
  model_id: z.string(), feature_id: z.string(), tenant: z.string(), currency: z.string(),
  days: z.array(z.number().int().min(0)), requests: z.array(z.number()), cost: z.array(z.number()), used_cost: z.array(z.number()), estimated: z.array(z.boolean()),
}).refine((r) => [r.requests, r.cost, r.used_cost, r.estimated].every((a) => a.length === r.days.length), 'day arrays of unequal length');
const cellRow = z.object({
  day: z.string(), model_id: z.string(), feature_id: z.string(), tenant: z.string(), currency: z.string(), pool_id: z.string(),
  weight_basis: z.string(), requests: z.number(), gpu_ms: z.number(), cost: z.number(), used_cost: z.number(),
});
const poolDayRow = z.object({
  day: z.string(), pool_id: z.string(), currency: z.string(), used_gpu_ms: z.number(), capacity_gpu_ms: z.number().nullable(), billed_cost: z.number(),
});
const dayStatusRow = z.object({
  day: z.string(), requests: z.coerce.number(), pending_requests: z.coerce.number(), min_billed_hours: z.coerce.number(),
  estimated: z.boolean(), attributed_at: z.string(), last_ingested_at: z.string().nullable(),
});
const evaluatedRow = z.object({ day: z.string(), attributed_at: z.string() });

type DayStatus = z.infer<typeof dayStatusRow>;
type PoolDay = z.infer<typeof poolDayRow>;

type PoolCell = Cell & { pool: string };

/** One alert key on one day. */
interface KeyDay {
  day: string;
  requests: number;
  estimated: boolean;
  /** CPP of both metrics (cost / requests), computed once: each day is a baseline candidate of many others. */
  loadedCpp: number;
  usedCpp: number;
}

const cppOfDay = (d: KeyDay, metric: Metric): number => (metric === 'loaded' ? d.loadedCpp : d.usedCpp);

interface KeyInfo {
  key: string;
  model: string;
  feature: string;
  tenant: string;
  currency: string;
  days: Map<string, KeyDay>;
}

export interface DayOutcome {
  day: string;
  status: 'evaluated' | 'waiting';
  /** Why a day waits (incomplete data). */
  reason?: string;
  keys: number;
  firing: number;
  /** Budgets judged, and those whose forecast reached their warning level or budget. */
  budgets: number;
  budgetsFiring: number;
  /** Why budgets were not judged that day (its attribution does not tie out to the bill); CPP alerts still were. */
  budgetsSkipped?: string;
  estimated: boolean;
}

export interface TransitionOutcome {
  transition: Transition | 'updated';
  alert: AlertRow;
}

export interface EvaluationResult {
  days: DayOutcome[];
  transitions: TransitionOutcome[];
  deliveries: DeliveryResult[];
}

export interface EvaluateOptions {
  /** A UTC day 'YYYY-MM-DD' to evaluate; without it, every complete day owed within the lookback. */
  day?: string | undefined;
  /** Completeness is judged against this instant. */
  now?: Date | undefined;
  /** Skip notifications (e.g. dry runs, benchmarks). */
  notify?: boolean | undefined;
}

const dayMs = (day: string): number => Date.parse(`${day}T00:00:00Z`);
const dayText = (ms: number): string => new Date(ms).toISOString().slice(0, 10);
const isWeekend = (day: string): boolean => [0, 6].includes(new Date(dayMs(day)).getUTCDay());

function comparable(mode: AlertSettings['comparable'], a: string, b: string): boolean {
  if (mode === 'any') return true;
  if (mode === 'weekday') return new Date(dayMs(a)).getUTCDay() === new Date(dayMs(b)).getUTCDay();
  return isWeekend(a) === isWeekend(b);
}

/** How many days before a day the baseline may reach. */
function baselineSpan(settings: AlertSettings): number {
  const n = settings.baselineDays;
  if (settings.comparable === 'weekday') return 7 * n + 7;
  if (settings.comparable === 'daytype') return 7 * Math.ceil(n / 2) + 7;
  return 2 * n + 2;
}

/** Why a day cannot be judged yet, or undefined when it is complete. */
export function incompleteReason(status: DayStatus | undefined, settings: AlertSettings, now: number): string | undefined {
  if (!status) return 'not attributed yet';
  if (status.pending_requests > 0) return `${status.pending_requests} requests still wait for their bill`;
  if (status.min_billed_hours < 24) return `the bill covers only ${status.min_billed_hours} of 24 hours for some pool`;
  const dayEnd = dayMs(status.day) + DAY_MS;
  const old = now - dayEnd >= settings.completeAfterHours * 3_600_000;
  if (!old) {
    if (now < dayEnd) return 'the day is not over';
    const last = status.last_ingested_at === null ? 0 : Date.parse(`${status.last_ingested_at.replace(' ', 'T')}Z`);
    if (now - last < settings.settleMinutes * 60_000) return 'traffic is still arriving';
  }
  return undefined;
}

const cppRow = z.object({ day: z.string(), model_id: z.string(), feature_id: z.string(), tenant: z.string(), currency: z.string(), loaded_cpp: z.string(), used_cpp: z.string() });
const versionRow = z.object({ day: z.string(), model_id: z.string(), feature_id: z.string(), tenant: z.string(), currency: z.string(), version: z.string(), total_requests: z.coerce.number() });
const keyOf = (r: { model_id: string; feature_id: string; tenant: string; currency: string }): string => [r.model_id, r.feature_id, r.tenant, r.currency].join('/');
const pairOf = (day: string, key: string): string => `${day}\n${key}`;

/**
 * What an alert needs beyond the judged numbers (exact CPPs, model versions),
 * fetched once per run for exactly the (day, key) pairs the run's alerts
 * name: two queries, whatever the number of days and alerts.
 */
class AlertDetails {
  private readonly cellsOf = new Map<string, PoolCell[]>();
  private readonly cpps = new Map<string, z.infer<typeof cppRow>>();
  private readonly versions = new Map<string, Map<string, number>>();

  static async fetch(warehouse: Warehouse, byTenant: boolean, pairs: ReadonlyMap<string, { day: string; info: KeyInfo }>): Promise<AlertDetails> {
    const details = new AlertDetails();
    if (pairs.size === 0) return details;
    let body = '';
    let from = '9999-12-31';
    let to = '0000-01-01';
    for (const { day, info } of pairs.values()) {
      body += `${JSON.stringify([day, info.model, info.feature, info.tenant, info.currency])}\n`;
      if (day < from) from = day;
      if (day > to) to = day;
    }
    const table = {
      param: 'asked', body,
      columns: [['day', 'Date'], ['model_id', 'String'], ['feature_id', 'String'], ['tenant', 'String'], ['currency', 'String']] as const,
    };
    const params = { from, to: dayText(dayMs(to) + DAY_MS), by_tenant: byTenant };
    const cells = await warehouse.queryWithTable(sqlFile('alerts/asked-cells'), params, table, cellRow);
    const cpps = await warehouse.queryWithTable(sqlFile('alerts/asked-cpp'), params, table, cppRow);
    const versions = await warehouse.queryWithTable(sqlFile('alerts/asked-versions'), params, table, versionRow);
    for (const r of cells) {
      const k = pairOf(r.day, keyOf(r));
      const list = details.cellsOf.get(k) ?? [];
      list.push({ cell: `${r.pool_id}|${r.weight_basis}`, pool: r.pool_id, requests: r.requests, gpuMs: r.gpu_ms, loadedCost: r.cost, usedCost: r.used_cost });
      details.cellsOf.set(k, list);
    }
    for (const r of cpps) details.cpps.set(pairOf(r.day, keyOf(r)), r);
    for (const r of versions) {
      const k = pairOf(r.day, keyOf(r));
      const m = details.versions.get(k) ?? new Map<string, number>();
      m.set(r.version === '' ? '(none)' : r.version, r.total_requests);
      details.versions.set(k, m);
    }
    return details;
  }

  /** The key's cells (pool, weight basis) on a day. */
  cells(day: string, key: string): PoolCell[] {
    return this.cellsOf.get(pairOf(day, key)) ?? [];
  }

  cpp(day: string, key: string): z.infer<typeof cppRow> | undefined {
    return this.cpps.get(pairOf(day, key));
  }

  /** Share of the key's requests per model version on a day. */
  versionShares(day: string, key: string): Map<string, number> {
    const counts = this.versions.get(pairOf(day, key)) ?? new Map<string, number>();
    const total = [...counts.values()].reduce((x, y) => x + y, 0);
    return new Map([...counts].map(([v, n]) => [v, total > 0 ? n / total : 0]));
  }
}

/** Read the inputs of [from, to) into keys with their days. */
async function loadKeys(warehouse: Warehouse, settings: AlertSettings, from: string, to: string): Promise<Map<string, KeyInfo>> {
  const rows = await warehouse.query(sqlFile('alerts/key-days'), { from, to, by_tenant: settings.byTenant }, keyDaysRow);
  const dayNames: string[] = [];
  const dayName = (offset: number): string => (dayNames[offset] ??= dayText(dayMs(from) + offset * DAY_MS));
  const keys = new Map<string, KeyInfo>();
  for (const r of rows) {
    const key = keyOf(r);
    const info: KeyInfo = { key, model: r.model_id, feature: r.feature_id, tenant: r.tenant, currency: r.currency, days: new Map() };
    keys.set(key, info);
    r.days.forEach((offset, i) => {
      const day = dayName(offset);
      const requests = r.requests[i] ?? 0;
      const cpp = (cost: number | undefined): number => (requests > 0 ? (cost ?? 0) / requests : 0);
      info.days.set(day, { day, requests, estimated: r.estimated[i] ?? false, loadedCpp: cpp(r.cost[i]), usedCpp: cpp(r.used_cost[i]) });
    });
  }
  return keys;
}

interface MetricJudgement {
  metric: Metric;
  baseline: KeyDay;
  observedCpp: number;
  baselineCpp: number;
  relative: number;
  extraPerDay: number;
  z: number;
  firing: boolean;
  clear: boolean;
  baselineDays: number;
}

function judge(metric: Metric, observed: KeyDay, baseline: readonly KeyDay[], settings: AlertSettings): MetricJudgement | undefined {
  const values = baseline.map((d) => cppOfDay(d, metric));
  const medianDay = baseline[lowerMedianIndex(values)];
  if (!medianDay) return undefined;
  const baselineCpp = cppOfDay(medianDay, metric);
  if (!(baselineCpp > 0)) return undefined;
  const observedCpp = cppOfDay(observed, metric);
  const relative = observedCpp / baselineCpp - 1;
  const spread = robustSpread(values, baselineCpp);
  const increase = observedCpp - baselineCpp;
  const z = spread > 0 ? increase / spread : increase > 0 ? Infinity : 0;
  const extraPerDay = increase * observed.requests;
  const firing = observed.requests >= settings.minRequests && medianDay.requests >= settings.minRequests &&
    relative >= settings.relativeIncrease && increase >= settings.minAbsoluteIncrease &&
    extraPerDay >= settings.minExtraDailyCost && z >= settings.minRobustZ;
  return { metric, baseline: medianDay, observedCpp, baselineCpp, relative, extraPerDay, z, firing, clear: relative < settings.resolveBelow, baselineDays: baseline.length };
}

/**
 * Utilisation and price per GPU-hour of a key's pools on a day, weighted by
 * the key's GPU-ms in each pool on `weights`' day (the baseline), so a
 * shift between pools shows as mix, not as a price or utilisation change.
 */
function poolFigures(day: string, weights: readonly PoolCell[], pools: Map<string, PoolDay>, currency: string): { util?: number; price?: number } {
  let weight = 0;
  let util = 0;
  let price = 0;
  for (const c of weights) {
    const p = pools.get(`${day}|${c.pool}|${currency}`);
    if (!p || p.capacity_gpu_ms === null || p.capacity_gpu_ms <= 0 || c.gpuMs <= 0) continue;
    weight += c.gpuMs;
    util += c.gpuMs * (p.used_gpu_ms / p.capacity_gpu_ms);
    price += c.gpuMs * (p.billed_cost / p.capacity_gpu_ms) * 3.6e6;
  }
  return weight > 0 ? { util: util / weight, price: price / weight } : {};
}

function shares(cells: readonly { pool: string; requests: number }[]): Map<string, number> {
  const total = cells.reduce((a, c) => a + c.requests, 0);
  const out = new Map<string, number>();
  for (const c of cells) out.set(c.pool, (out.get(c.pool) ?? 0) + c.requests / total);
  return out;
}

/** The name whose share of requests grew most, if it grew by at least 10 points: "v8 (100% of requests, was 0%)". */
function grewMost(before: Map<string, number>, after: Map<string, number>): string | undefined {
  let best: [string, number] | undefined;
  for (const [name, share] of after) {
    const growth = share - (before.get(name) ?? 0);
    if (growth >= 0.1 && (!best || growth > best[1])) best = [name, growth];
  }
  if (!best) return undefined;
  const [name] = best;
  return `${name} (${Math.round((after.get(name) ?? 0) * 100)}% of requests, was ${Math.round((before.get(name) ?? 0) * 100)}%)`;
}

function contextOf(details: AlertDetails, info: KeyInfo, baselineDay: string, day: string, pools: Map<string, PoolDay>): FactorContext {
  const baselineCells = details.cells(baselineDay, info.key);
  const versionGrowth = grewMost(details.versionShares(baselineDay, info.key), details.versionShares(day, info.key));
  const poolGrowth = grewMost(shares(baselineCells), shares(details.cells(day, info.key)));
  const before = poolFigures(baselineDay, baselineCells, pools, info.currency);
  const after = poolFigures(day, baselineCells, pools, info.currency);
  return {
    versionNote: versionGrowth ? `since model_version ${versionGrowth}` : undefined,
    utilisation: before.util !== undefined && after.util !== undefined ? { before: before.util, after: after.util } : undefined,
    pricePerGpuHour: before.price !== undefined && after.price !== undefined ? { before: before.price, after: after.price } : undefined,
    mixNote: poolGrowth ? `towards pool ${poolGrowth}` : undefined,
  };
}

function alertIdOf(key: string, day: string): string {
  return createHash('sha256').update(`${key}\n${day}`).digest('hex').slice(0, 12);
}

/** Days to evaluate: the one asked for, or every attributed day in the lookback not yet evaluated at its current attribution. */
async function daysOwed(warehouse: Warehouse, settings: AlertSettings, statuses: Map<string, DayStatus>, from: string, to: string): Promise<string[]> {
  const evaluated = new Map((await warehouse.query(sqlFile('alerts/evaluated-days'), { from, to }, evaluatedRow)).map((r) => [r.day, r.attributed_at]));
  return [...statuses.values()]
    .filter((s) => s.day >= from && s.day < to && evaluated.get(s.day) !== s.attributed_at)
    .map((s) => s.day)
    .sort();
}

/**
 * Evaluate CPP alerts: for `day`, or (without it) every day owed. Incomplete
 * days wait; a restated day is evaluated again and updates its alert instead
 * of opening another. Notifications go out after the state is stored.
 */
export async function evaluateAlerts(warehouse: Warehouse, config: Pick<Config, 'alerts'>, options: EvaluateOptions = {}): Promise<EvaluationResult> {
  const settings = config.alerts;
  const now = (options.now ?? new Date()).getTime();
  const today = dayText(Math.floor(now / DAY_MS) * DAY_MS);
  const windowFrom = options.day ?? dayText(dayMs(today) - settings.lookbackDays * DAY_MS);
  const windowTo = options.day ? dayText(dayMs(options.day) + DAY_MS) : dayText(dayMs(today) + DAY_MS);
  // Back far enough for the baseline, and for the 7 days of a budget's run rate.
  const loadFrom = dayText(dayMs(windowFrom) - Math.max(baselineSpan(settings), 7) * DAY_MS);

  const statuses = new Map((await warehouse.query(sqlFile('alerts/day-status'), { from: loadFrom, to: windowTo }, dayStatusRow)).map((s) => [s.day, s]));
  const days = options.day ? [options.day] : await daysOwed(warehouse, settings, statuses, windowFrom, windowTo);
  const result: EvaluationResult = { days: [], transitions: [], deliveries: [] };
  const ready = days.filter((day) => {
    const reason = incompleteReason(statuses.get(day), settings, now);
    if (reason !== undefined) result.days.push({ day, status: 'waiting', reason, keys: 0, firing: 0, budgets: 0, budgetsFiring: 0, estimated: false });
    return reason === undefined;
  });
  if (ready.length === 0) return result;

  const complete = (day: string): boolean => incompleteReason(statuses.get(day), settings, now) === undefined;
  const [keys, latest] = await Promise.all([loadKeys(warehouse, settings, loadFrom, windowTo), latestAlerts(warehouse)]);
  const written = new Map<string, AlertRow>();
  // (day, key) pairs whose exact CPPs and versions the run's alerts need, and the alerts waiting for them.
  const asked = new Map<string, { day: string; info: KeyInfo }>();
  const finish: ((details: AlertDetails, pools: Map<string, PoolDay>) => void)[] = [];
  const allDays = [...statuses.keys()].sort();
  const attributedDays = new Set(allDays);

  for (const day of ready) {
    const outcome: DayOutcome = { day, status: 'evaluated', keys: 0, firing: 0, budgets: 0, budgetsFiring: 0, estimated: statuses.get(day)?.estimated ?? false };
    const candidates = allDays.filter((d) => d < day && comparable(settings.comparable, d, day) && complete(d)).reverse();
    for (const info of keys.values()) {
      const observed = info.days.get(day);
      if (!observed) continue;
      outcome.keys++;
      const baseline: KeyDay[] = [];
      for (const d of candidates) {
        const kd = info.days.get(d);
        if (kd && kd.requests >= settings.minRequests) baseline.push(kd);
        if (baseline.length >= settings.baselineDays) break;
      }
      if (baseline.length < settings.minBaselineDays) continue;
      const loaded = judge('loaded', observed, baseline, settings);
      const used = judge('used', observed, baseline, settings);
      if (!loaded || !used) continue;
      const firing = loaded.firing || used.firing;
      if (firing) outcome.firing++;
      const found = latest.get(info.key);
      const previous = found?.metric === 'budget' ? undefined : found;
      // An evaluated day again (a restatement): refresh the open episode's numbers, no transition.
      if (previous && day < previous.last_day) continue;
      const refresh = previous !== undefined && day === previous.last_day;
      if (refresh && previous.status !== 'open') continue;
      if (!refresh && previous?.status !== 'open' && !firing) continue;

      const fired = previous?.status === 'open' && !firing ? (previous.metric === 'loaded' ? loaded : used) : loaded.firing ? loaded : used;
      const other = fired === loaded ? used : loaded;
      const stamp = nowText(now);
      // Exact CPPs, the explanation and its context need the details fetched after the loop (finish below).
      const numbers = {
        metric: fired.metric,
        last_day: day,
        updated_at: stamp,
        baseline_day: fired.baseline.day,
        baseline_cpp: '0',
        observed_cpp: '0',
        baseline_loaded_cpp: '0',
        observed_loaded_cpp: '0',
        baseline_used_cpp: '0',
        observed_used_cpp: '0',
        relative_increase: fired.relative,
        extra_daily_cost: fired.extraPerDay.toFixed(12),
        requests: observed.requests,
        baseline_requests: fired.baseline.requests,
        dominant_factor: '',
        factors: '',
        summary: '',
        estimated: observed.estimated,
        version: nextVersion(),
      } satisfies Partial<AlertRow>;

      let row: AlertRow;
      let transition: TransitionOutcome['transition'] = 'updated';
      if (previous?.status === 'open') {
        row = { ...previous, ...numbers };
        if (!refresh) {
          const clearNow = loaded.clear && used.clear && !firing;
          row.clear_windows = firing ? 0 : clearNow ? previous.clear_windows + 1 : 0;
          if (row.clear_windows >= settings.resolveAfterWindows) {
            row.status = 'resolved';
            row.resolved_at = stamp;
            transition = 'resolved';
          }
        }
      } else {
        row = {
          alert_id: alertIdOf(info.key, day), alert_key: info.key, model_id: info.model, feature_id: info.feature, tenant_id: info.tenant,
          currency: info.currency, status: 'open', opened_day: day, opened_at: stamp, resolved_at: null, clear_windows: 0,
          acknowledged: false, ack_reason: '', ack_at: null, ...NO_BUDGET, ...numbers,
        };
        transition = 'opened';
      }
      latest.set(info.key, row);
      written.set(row.alert_id, row);
      result.transitions.push({ transition, alert: row });
      const alert = row;
      asked.set(pairOf(fired.baseline.day, info.key), { day: fired.baseline.day, info });
      asked.set(pairOf(loaded.baseline.day, info.key), { day: loaded.baseline.day, info });
      asked.set(pairOf(used.baseline.day, info.key), { day: used.baseline.day, info });
      asked.set(pairOf(day, info.key), { day, info });
      finish.push((details, pools) => {
        // The factors are split over the cells of the baseline and observed days, read for these days only.
        const observedCells = details.cells(day, info.key);
        const firedDecomposition = decompose(fired.metric, details.cells(fired.baseline.day, info.key), observedCells);
        const otherDecomposition = decompose(other.metric, details.cells(other.baseline.day, info.key), observedCells);
        alert.dominant_factor = firedDecomposition.dominant;
        const ctx = contextOf(details, info, fired.baseline.day, day, pools);
        const keyLabel = `${info.model} / ${info.feature}${info.tenant ? ` / ${info.tenant}` : ''} (${info.currency})`;
        alert.summary = explain({
          keyLabel, currency: info.currency, day, baselineDay: fired.baseline.day, baselineDays: fired.baselineDays,
          fired: firedDecomposition, other: otherDecomposition, otherQuiet: !other.firing, ctx, estimated: observed.estimated,
        });
        alert.factors = JSON.stringify({ [fired.metric]: summarise(firedDecomposition), [other.metric]: summarise(otherDecomposition), context: ctx });
        const cpp = (d: string, metric: Metric): string => {
          const exact = details.cpp(d, info.key);
          return (metric === 'loaded' ? exact?.loaded_cpp : exact?.used_cpp) ?? '0';
        };
        alert.baseline_cpp = cpp(fired.baseline.day, fired.metric);
        alert.observed_cpp = cpp(day, fired.metric);
        alert.baseline_loaded_cpp = cpp(loaded.baseline.day, 'loaded');
        alert.observed_loaded_cpp = cpp(day, 'loaded');
        alert.baseline_used_cpp = cpp(used.baseline.day, 'used');
        alert.observed_used_cpp = cpp(day, 'used');
      });
    }
    const budgets = await evaluateBudgetsOn(warehouse, settings.budgets, day, attributedDays, latest, now, outcome.estimated);
    outcome.budgets = budgets.budgets;
    outcome.budgetsFiring = budgets.firing;
    if (budgets.skipped !== undefined) outcome.budgetsSkipped = budgets.skipped;
    for (const t of budgets.transitions) {
      written.set(t.alert.alert_id, t.alert);
      result.transitions.push(t);
    }
    result.days.push(outcome);
  }

  if (finish.length > 0) {
    const details = await AlertDetails.fetch(warehouse, settings.byTenant, asked);
    const askedDays = [...asked.values()].map((a) => a.day).sort();
    const poolRows = await warehouse.query(sqlFile('alerts/pool-days'), { from: askedDays[0] ?? windowFrom, to: dayText(dayMs(askedDays.at(-1) ?? windowFrom) + DAY_MS) }, poolDayRow);
    const pools = new Map(poolRows.map((p) => [`${p.day}|${p.pool_id}|${p.currency}`, p]));
    for (const f of finish) f(details, pools);
  }
  await writeAlerts(warehouse, [...written.values()]);
  await warehouse.insertObjects('cpp_alert_evaluations', result.days.filter((d) => d.status === 'evaluated').map((d) => ({
    day: d.day, attributed_at: statuses.get(d.day)?.attributed_at ?? nowText(now), keys: d.keys, firing: d.firing, evaluated_at: nowText(),
  })));

  if (options.notify !== false && settings.webhooks.length > 0) {
    // This run's transitions (an alert opened and resolved in one run announces both), and any
    // earlier one whose delivery failed: open alerts (and the escalation of an open budget alert
    // that opened at warning and is now over), and alerts resolved in the last week.
    const owed = new Map<string, [AlertRow, Transition]>();
    for (const t of result.transitions) if (t.transition !== 'updated') owed.set(`${t.alert.alert_id}:${t.transition}`, [t.alert, t.transition]);
    for (const a of latest.values()) {
      if (a.status === 'open') owed.set(`${a.alert_id}:opened`, [a, 'opened']);
      else if (a.resolved_at !== null && now - Date.parse(`${a.resolved_at.replace(' ', 'T')}Z`) < 7 * DAY_MS) owed.set(`${a.alert_id}:resolved`, [a, 'resolved']);
      if (a.status === 'open' && a.metric === 'budget' && a.level === 'over' && a.opened_level === 'warning') owed.set(`${a.alert_id}:escalated`, [a, 'escalated']);
    }
    // Openings first, resolutions last: an escalation owed by this run never reaches a webhook before
    // the opening an earlier run failed to deliver.
    const order: Record<Transition, number> = { opened: 0, escalated: 1, resolved: 2 };
    for (const [alert, transition] of [...owed.values()].sort((a, b) => order[a[1]] - order[b[1]])) {
      const sent = await notify(warehouse, settings, alert, transition);
      result.deliveries.push(...sent.filter((d) => d.outcome !== 'already-delivered'));
    }
  }
  return result;
}

function summarise(d: Decomposition): Record<string, unknown> {
  return {
    baseline_cpp: d.baselineCpp,
    observed_cpp: d.observedCpp,
    dominant: d.dominant,
    factors: d.factors.map((f) => ({ name: f.name, ratio: f.ratio, per_day: f.perDay })),
  };
}
