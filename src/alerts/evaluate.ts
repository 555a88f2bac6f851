/**
 * CPP regression alerts: evaluation. SQL (sql/alerts/) gives per key and day
 * the requests and both costs (and, for the days alerts name, the cells that
 * explain a change, once per run: details.ts); this module judges each
 * complete day against a robust baseline (the median of the trailing
 * comparable days, their spread deciding how unusual a change is), and the
 * current day hour by hour before it is complete (its first complete hours
 * against the same hours of the baseline days), runs the episode state
 * machine with hysteresis, stores the alerts and sends notifications on open
 * and resolve.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { Config } from '../config/config.js';
import { sqlFile } from '../warehouse/sql-files.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { evaluateBudgetsOn } from './budgets.js';
import { completeHours, dayStatusRow, incompleteReason, type DayStatus } from './completeness.js';
import { atDailyPace, decompose, lowerMedianIndex, robustSpread, type Decomposition, type Metric } from './decompose.js';
import { AlertDetails, AskedPairs, keyOf, type KeyName } from './details.js';
import { explain } from './explain.js';
import { dedupeKey, notify, type DeliveryResult, type Transition } from './notify.js';
import { audiencesOf, webhooksFor } from './routing.js';
import { latestAlerts, nextVersion, NO_BUDGET, nowText, writeAlerts, type AlertRow } from './store.js';
import { DAY_MS, dayStart, formatDate as dayText, parseDate as dayMs, parseDateTime } from '../util/time.js';

export { incompleteReason } from './completeness.js';
export type AlertSettings = Config['alerts'];
const WHOLE_DAY = 24;

/** A key's days as parallel arrays; a day is its offset from the window's first day. */
const keyDaysRow = z.object({
  model_id: z.string(), feature_id: z.string(), tenant: z.string(), currency: z.string(),
  days: z.array(z.number().int().min(0)), requests: z.array(z.number()), cost: z.array(z.number()), used_cost: z.array(z.number()), estimated: z.array(z.boolean()),
}).refine((r) => [r.requests, r.cost, r.used_cost, r.estimated].every((a) => a.length === r.days.length), 'day arrays of unequal length');
const evaluatedRow = z.object({ day: z.string(), attributed_at: z.string() });

/** One alert key on one day (or the first hours of it). */
interface KeyDay {
  day: string;
  requests: number;
  estimated: boolean;
  /** CPP of both metrics (cost / requests), computed once: each day is a baseline candidate of many others. */
  loadedCpp: number;
  usedCpp: number;
}

const cppOfDay = (d: KeyDay, metric: Metric): number => (metric === 'loaded' ? d.loadedCpp : d.usedCpp);

interface KeyInfo extends KeyName {
  days: Map<string, KeyDay>;
}

/** What one judgement covers: a complete day (hours 24), or the first `hours` hours of a day not complete yet. */
interface Window {
  day: string;
  hours: number;
  /** The day is not complete: only its first hours are judged, and only to open (or refresh) an episode. */
  partial: boolean;
}

export interface DayOutcome {
  day: string;
  /** evaluated: a complete day; partial: a day not complete yet, its first `hours` hours judged; waiting: not judged. */
  status: 'evaluated' | 'partial' | 'waiting';
  /** Why a day is not complete (partial and waiting days). */
  reason?: string;
  /** Hours judged from 00:00 UTC: 24 when evaluated, fewer when partial, 0 when waiting. */
  hours: number;
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

/** Read the inputs of [from, to), over the first `hours` hours of each day, into keys with their days. */
async function loadKeys(warehouse: Warehouse, settings: AlertSettings, from: string, to: string, hours: number): Promise<Map<string, KeyInfo>> {
  const rows = await warehouse.query(sqlFile('alerts/key-days'), { from, to, by_tenant: settings.byTenant, hours }, keyDaysRow);
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
  /** The increase in money per day: at the day's traffic, or for a partial day at the pace its baseline day kept over the whole day. */
  extraPerDay: number;
  /** Whole-day requests over the window's requests on the baseline day (1 for a complete day). */
  dailyScale: number;
  z: number;
  firing: boolean;
  clear: boolean;
  baselineDays: number;
}

/**
 * Judge one metric of a key: `observed` against the median of `baseline`.
 * `wholeDays` holds the key's complete days when the window is partial, to
 * say what the increase would cost over a whole day.
 */
function judge(metric: Metric, observed: KeyDay, baseline: readonly KeyDay[], settings: AlertSettings, wholeDays?: Map<string, KeyDay>): MetricJudgement | undefined {
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
  const whole = wholeDays?.get(medianDay.day)?.requests;
  const dailyScale = wholeDays === undefined || whole === undefined ? 1 : Math.max(1, whole / medianDay.requests);
  const extraPerDay = increase * observed.requests * dailyScale;
  const firing = observed.requests >= settings.minRequests && medianDay.requests >= settings.minRequests &&
    relative >= settings.relativeIncrease && increase >= settings.minAbsoluteIncrease &&
    extraPerDay >= settings.minExtraDailyCost && z >= settings.minRobustZ;
  return { metric, baseline: medianDay, observedCpp, baselineCpp, relative, extraPerDay, dailyScale, z, firing, clear: relative < settings.resolveBelow, baselineDays: baseline.length };
}

function alertIdOf(key: string, day: string): string {
  return createHash('sha256').update(`${key}\n${day}`).digest('hex').slice(0, 12);
}

/** Days to evaluate: the one asked for, or every attributed day in the lookback not yet evaluated at its current attribution. */
async function daysOwed(warehouse: Warehouse, statuses: Map<string, DayStatus>, from: string, to: string): Promise<string[]> {
  const evaluated = new Map((await warehouse.query(sqlFile('alerts/evaluated-days'), { from, to }, evaluatedRow)).map((r) => [r.day, r.attributed_at]));
  return [...statuses.values()]
    .filter((s) => s.day >= from && s.day < to && evaluated.get(s.day) !== s.attributed_at)
    .map((s) => s.day)
    .sort();
}

interface Judged {
  loaded: MetricJudgement;
  used: MetricJudgement;
}

/**
 * The episode step of one key in one window: the alert row to write and its
 * transition, or undefined when nothing changes. A complete day opens,
 * updates and (after resolveAfterWindows clear days) resolves; re-evaluating
 * an episode's last day (a restatement) refreshes its numbers only. The first
 * hours of an unfinished day may open an episode, or refresh one they opened
 * with more hours; resolving and counting clear days wait for complete days.
 */
function step(previous: AlertRow | undefined, w: Window, info: KeyInfo, observed: KeyDay, j: Judged, settings: AlertSettings, now: number):
  { row: AlertRow; transition: TransitionOutcome['transition']; fired: MetricJudgement; other: MetricJudgement } | undefined {
  const { loaded, used } = j;
  const firing = loaded.firing || used.firing;
  if (previous && w.day < previous.last_day) return undefined;
  const refresh = previous !== undefined && w.day === previous.last_day;
  if (refresh && previous.status !== 'open') return undefined;
  if (w.partial && previous?.status === 'open' && (!refresh || w.hours < previous.window_hours)) return undefined;
  if (!refresh && previous?.status !== 'open' && !firing) return undefined;

  const fired = previous?.status === 'open' && !firing ? (previous.metric === 'loaded' ? loaded : used) : loaded.firing ? loaded : used;
  const other = fired === loaded ? used : loaded;
  const stamp = nowText(now);
  // Exact CPPs, the explanation and its factors need the details fetched after judging (see finish).
  const numbers = {
    metric: fired.metric,
    last_day: w.day,
    window_hours: w.hours,
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

  if (previous?.status === 'open') {
    const row: AlertRow = { ...previous, ...numbers };
    let transition: TransitionOutcome['transition'] = 'updated';
    if (!refresh) {
      const clearNow = loaded.clear && used.clear && !firing;
      row.clear_windows = firing ? 0 : clearNow ? previous.clear_windows + 1 : 0;
      if (row.clear_windows >= settings.resolveAfterWindows) {
        row.status = 'resolved';
        row.resolved_at = stamp;
        transition = 'resolved';
      }
    }
    return { row, transition, fired, other };
  }
  const row: AlertRow = {
    alert_id: alertIdOf(info.key, w.day), alert_key: info.key, model_id: info.model, feature_id: info.feature, tenant_id: info.tenant,
    currency: info.currency, status: 'open', opened_day: w.day, opened_at: stamp, resolved_at: null, clear_windows: 0,
    acknowledged: false, ack_reason: '', ack_at: null, ...NO_BUDGET, ...numbers,
  };
  return { row, transition: 'opened', fired, other };
}

/** Fill in what an alert says (exact CPPs, factors, explanation) from the details of its window's hours. */
function describeAlert(alert: AlertRow, details: AlertDetails, info: KeyInfo, w: Window, observed: KeyDay, fired: MetricJudgement, other: MetricJudgement): void {
  // The factors are split over the cells of the baseline and observed days, read for these days only.
  const observedCells = details.cells(w.day, info.key);
  const firedDecomposition = atDailyPace(decompose(fired.metric, details.cells(fired.baseline.day, info.key), observedCells), fired.dailyScale);
  const otherDecomposition = atDailyPace(decompose(other.metric, details.cells(other.baseline.day, info.key), observedCells), other.dailyScale);
  alert.dominant_factor = firedDecomposition.dominant;
  const ctx = details.context(info, fired.baseline.day, w.day);
  const keyLabel = `${info.model} / ${info.feature}${info.tenant ? ` / ${info.tenant}` : ''} (${info.currency})`;
  alert.summary = explain({
    keyLabel, currency: info.currency, day: w.day, hours: w.hours, baselineDay: fired.baseline.day, baselineDays: fired.baselineDays,
    fired: firedDecomposition, other: otherDecomposition, otherQuiet: !other.firing, ctx, estimated: observed.estimated,
  });
  alert.factors = JSON.stringify({ [fired.metric]: summarise(firedDecomposition), [other.metric]: summarise(otherDecomposition), context: ctx, hours: w.hours });
  const loaded = fired.metric === 'loaded' ? fired : other;
  const used = fired.metric === 'used' ? fired : other;
  alert.baseline_cpp = details.cpp(fired.baseline.day, info.key, fired.metric);
  alert.observed_cpp = details.cpp(w.day, info.key, fired.metric);
  alert.baseline_loaded_cpp = details.cpp(loaded.baseline.day, info.key, 'loaded');
  alert.observed_loaded_cpp = details.cpp(w.day, info.key, 'loaded');
  alert.baseline_used_cpp = details.cpp(used.baseline.day, info.key, 'used');
  alert.observed_used_cpp = details.cpp(w.day, info.key, 'used');
}

/**
 * Evaluate CPP alerts: for `day`, or (without it) every day owed. Incomplete
 * days wait, except the current day and the one before it, whose first
 * complete hours are judged once there are intradayMinHours of them; a
 * restated day is evaluated again and updates its alert instead of opening
 * another. Notifications go out after the state is stored.
 */
export async function evaluateAlerts(warehouse: Warehouse, config: Pick<Config, 'alerts'>, options: EvaluateOptions = {}): Promise<EvaluationResult> {
  const settings = config.alerts;
  const now = (options.now ?? new Date()).getTime();
  const today = dayText(dayStart(now));
  const windowFrom = options.day ?? dayText(dayMs(today) - settings.lookbackDays * DAY_MS);
  const windowTo = options.day ? dayText(dayMs(options.day) + DAY_MS) : dayText(dayMs(today) + DAY_MS);
  // Back far enough for the baseline, and for the 7 days of a budget's run rate.
  const loadFrom = dayText(dayMs(windowFrom) - Math.max(baselineSpan(settings), 7) * DAY_MS);

  const statuses = new Map((await warehouse.query(sqlFile('alerts/day-status'), { from: loadFrom, to: windowTo }, dayStatusRow)).map((s) => [s.day, s]));
  const days = options.day ? [options.day] : await daysOwed(warehouse, statuses, windowFrom, windowTo);
  const result: EvaluationResult = { days: [], transitions: [], deliveries: [] };
  const windows: { w: Window; outcome: DayOutcome }[] = [];
  for (const day of days) {
    const status = statuses.get(day);
    const reason = incompleteReason(status, settings, now);
    const outcome: DayOutcome = { day, status: 'evaluated', hours: WHOLE_DAY, keys: 0, firing: 0, budgets: 0, budgetsFiring: 0, estimated: status?.estimated ?? false };
    result.days.push(outcome);
    if (reason === undefined) {
      windows.push({ w: { day, hours: WHOLE_DAY, partial: false }, outcome });
      continue;
    }
    const recent = dayMs(day) >= dayMs(today) - DAY_MS;
    const hours = recent && settings.intradayMinHours > 0 ? await completeHours(warehouse, status, settings, now) : 0;
    if (hours >= settings.intradayMinHours && hours > 0) {
      Object.assign(outcome, { status: 'partial', reason, hours });
      windows.push({ w: { day, hours, partial: true }, outcome });
    } else {
      Object.assign(outcome, { status: 'waiting', reason: hours > 0 ? `${reason} (${hours} complete hours so far)` : reason, hours: 0 });
    }
  }
  if (windows.length === 0) {
    // Nothing to judge, but a notification an earlier run failed to deliver is still owed.
    if (options.notify !== false && settings.webhooks.length > 0) result.deliveries.push(...await deliverOwed(warehouse, settings, [], await latestAlerts(warehouse), now));
    return result;
  }

  const complete = (day: string): boolean => incompleteReason(statuses.get(day), settings, now) === undefined;
  const hoursAsked = [...new Set(windows.map(({ w }) => w.hours))];
  const [latest, ...keySets] = await Promise.all([
    latestAlerts(warehouse),
    ...[WHOLE_DAY, ...hoursAsked.filter((h) => h !== WHOLE_DAY)].map(async (h) => [h, await loadKeys(warehouse, settings, loadFrom, windowTo, h)] as const),
  ]);
  const keysByHours = new Map(keySets);
  const wholeKeys = keysByHours.get(WHOLE_DAY) ?? new Map<string, KeyInfo>();
  const written = new Map<string, AlertRow>();
  // Per hours judged: the (day, key) pairs whose details the run's alerts need, and the alerts waiting for them.
  const asked = new Map<number, { pairs: AskedPairs; finish: ((details: AlertDetails) => void)[] }>();
  const allDays = [...statuses.keys()].sort();
  const attributedDays = new Set(allDays);

  for (const { w, outcome } of windows) {
    const keys = keysByHours.get(w.hours) ?? new Map<string, KeyInfo>();
    const candidates = allDays.filter((d) => d < w.day && comparable(settings.comparable, d, w.day) && complete(d)).reverse();
    const group = asked.get(w.hours) ?? { pairs: new AskedPairs(), finish: [] };
    asked.set(w.hours, group);
    for (const info of keys.values()) {
      const observed = info.days.get(w.day);
      if (!observed) continue;
      outcome.keys++;
      const baseline: KeyDay[] = [];
      for (const d of candidates) {
        const kd = info.days.get(d);
        if (kd && kd.requests >= settings.minRequests) baseline.push(kd);
        if (baseline.length >= settings.baselineDays) break;
      }
      if (baseline.length < settings.minBaselineDays) continue;
      const wholeDays = w.hours < WHOLE_DAY ? wholeKeys.get(info.key)?.days : undefined;
      const loaded = judge('loaded', observed, baseline, settings, wholeDays);
      const used = judge('used', observed, baseline, settings, wholeDays);
      if (!loaded || !used) continue;
      if (loaded.firing || used.firing) outcome.firing++;
      const found = latest.get(info.key);
      const next = step(found?.metric === 'budget' ? undefined : found, w, info, observed, { loaded, used }, settings, now);
      if (!next) continue;
      const { row, transition, fired, other } = next;
      latest.set(info.key, row);
      written.set(row.alert_id, row);
      result.transitions.push({ transition, alert: row });
      for (const d of [fired.baseline.day, loaded.baseline.day, used.baseline.day, w.day]) group.pairs.add(d, info);
      group.finish.push((details) => { describeAlert(row, details, info, w, observed, fired, other); });
    }
    if (!w.partial) {
      const budgets = await evaluateBudgetsOn(warehouse, settings.budgets, w.day, attributedDays, latest, now, outcome.estimated);
      outcome.budgets = budgets.budgets;
      outcome.budgetsFiring = budgets.firing;
      if (budgets.skipped !== undefined) outcome.budgetsSkipped = budgets.skipped;
      for (const t of budgets.transitions) {
        written.set(t.alert.alert_id, t.alert);
        result.transitions.push(t);
      }
    }
  }

  for (const [hours, group] of asked) {
    if (group.finish.length === 0) continue;
    const details = await AlertDetails.fetch(warehouse, settings.byTenant, group.pairs, hours);
    for (const f of group.finish) f(details);
  }
  await writeAlerts(warehouse, [...written.values()]);
  await warehouse.insertObjects('cpp_alert_evaluations', result.days.filter((d) => d.status === 'evaluated').map((d) => ({
    day: d.day, attributed_at: statuses.get(d.day)?.attributed_at ?? nowText(now), keys: d.keys, firing: d.firing, evaluated_at: nowText(),
  })));

  if (options.notify !== false) result.deliveries.push(...await deliverOwed(warehouse, settings, result.transitions, latest, now));
  return result;
}

/**
 * Send what is owed: this run's transitions (an alert opened and resolved in
 * one run announces both), and any earlier one whose delivery failed, each
 * to the webhooks its routes give (routing.ts); the delivery log keeps what a
 * webhook already accepted from going out twice.
 */
async function deliverOwed(
  warehouse: Warehouse, settings: AlertSettings, transitions: readonly TransitionOutcome[], latest: ReadonlyMap<string, AlertRow>, now: number,
): Promise<DeliveryResult[]> {
  if (settings.webhooks.length === 0) return [];
  const deliveries: DeliveryResult[] = [];
  // Owed from earlier runs: the opening of open alerts (and the escalation of an open budget alert
  // that opened at warning and is now over), and resolutions of the last week.
  const owed = new Map<string, [AlertRow, Transition]>();
  for (const t of transitions) if (t.transition !== 'updated') owed.set(dedupeKey(t.alert.alert_id, t.transition), [t.alert, t.transition]);
  for (const a of latest.values()) {
    if (a.status === 'open') owed.set(dedupeKey(a.alert_id, 'opened'), [a, 'opened']);
    else if (a.resolved_at !== null && now - parseDateTime(a.resolved_at) < 7 * DAY_MS) owed.set(dedupeKey(a.alert_id, 'resolved'), [a, 'resolved']);
    if (a.status === 'open' && a.metric === 'budget' && a.level === 'over' && a.opened_level === 'warning') owed.set(dedupeKey(a.alert_id, 'escalated'), [a, 'escalated']);
  }
  // Openings first, resolutions last: an escalation owed by this run never reaches a webhook before
  // the opening an earlier run failed to deliver.
  const order: Record<Transition, number> = { opened: 0, escalated: 1, resolved: 2 };
  const sorted = [...owed.values()].sort((a, b) => order[a[1]] - order[b[1]]);
  // Where each goes (alerts.routes): the teams of every CPP alert owed, read at once.
  const audiences = await audiencesOf(warehouse, settings, sorted.map(([alert]) => alert));
  for (const [alert, transition] of sorted) {
    const webhooks = webhooksFor(settings, audiences.get(alert.alert_id) ?? { teams: [], tenants: [] });
    const sent = await notify(warehouse, settings, alert, transition, webhooks);
    deliveries.push(...sent.filter((d) => d.outcome !== 'already-delivered'));
  }
  return deliveries;
}

function summarise(d: Decomposition): Record<string, unknown> {
  return {
    baseline_cpp: d.baselineCpp,
    observed_cpp: d.observedCpp,
    dominant: d.dominant,
    factors: d.factors.map((f) => ({ name: f.name, ratio: f.ratio, per_day: f.perDay })),
  };
}
