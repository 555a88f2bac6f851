/**
 * Budget alerts: a monthly budget per team or tenant (alerts.budgets), judged
 * on each evaluated day by forecast. Cost is what the chargeback report's
 * `spread` policy charges the owner (sql/report/ read by readMonth, then
 * applyIdlePolicy): attributed cost with idle of its hours, plus its share of
 * its pools' hours without traffic. Money is bigint units of 1e-12 throughout;
 * currencies are never added together.
 *
 *   month_to_date = spread cost from the 1st through the evaluated day D
 *   run_rate      = spread cost of the 7 days ending on D / the attributed days among them
 *   forecast      = month_to_date + run_rate x days left in the month after D
 *
 * Episodes live in cpp_alerts (metric 'budget') with the same life as CPP
 * alerts: one open episode per budget at a time, updated each evaluated day,
 * resolved when the forecast falls under `resolveBelow` of the budget, when
 * a day of a later month is evaluated (the month is over) or when its budget
 * is no longer configured. An episode opened at `warning` whose forecast goes
 * over the budget escalates (announced once per episode).
 *
 * A day whose attribution does not tie out to the bill is not judged: its
 * budgets are skipped with the reason, and open episodes stay as they were.
 */
import { createHash } from 'node:crypto';
import type { Config } from '../config/config.js';
import { applyIdlePolicy, TieOutError } from '../report/idle-policy.js';
import { divideHalfEven, fixed, UNIT, units } from '../util/decimal.js';
import { readMonth } from '../report/month-data.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import type { Transition } from './notify.js';
import { nextVersion, nowText, type AlertRow } from './store.js';
import { DAY_MS, formatDate as dayText, parseDate as dayMs, type Month } from '../util/time.js';

export type Budget = Config['alerts']['budgets'][number];

const RUN_RATE_DAYS = 7;
/** Shares (warnAt, resolveBelow) are compared in millionths, so the test on money stays integer. */
const SHARE_SCALE = 1_000_000n;

/** What an owner was charged in one currency over a window. */
export interface OwnerSpend {
  cost: bigint;
  requests: bigint;
  /** Cost per model. */
  models: Map<string, bigint>;
  /** Any of it still billed as an estimate. */
  estimated: boolean;
}

const spendKey = (owner: string, currency: string): string => JSON.stringify([owner, currency]);

/**
 * Cost per (owner, currency) over [start, end) as the chargeback report's
 * `spread` policy charges it, with the window in place of the month.
 */
export async function spendOf(warehouse: Warehouse, by: Budget['by'], start: number, end: number): Promise<Map<string, OwnerSpend>> {
  const window: Month = { label: new Date(start).toISOString().slice(0, 10), start, end, days: Math.round((end - start) / DAY_MS) };
  const { lines } = applyIdlePolicy(await readMonth(warehouse, window, by), 'spread', {});
  const out = new Map<string, OwnerSpend>();
  for (const l of lines) {
    const k = spendKey(l.owner, l.currency);
    const s = out.get(k) ?? { cost: 0n, requests: 0n, models: new Map<string, bigint>(), estimated: false };
    s.estimated ||= l.estimated;
    const cost = l.used_cost + l.idle_cost;
    s.cost += cost;
    s.requests += l.requests;
    s.models.set(l.model_id, (s.models.get(l.model_id) ?? 0n) + cost);
    out.set(k, s);
  }
  return out;
}

export function monthOf(day: string): { start: number; end: number; label: string; days: number } {
  const d = new Date(dayMs(day));
  const start = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
  const end = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
  return { start, end, label: day.slice(0, 7), days: Math.round((end - start) / DAY_MS) };
}

export interface Forecast {
  monthToDate: bigint;
  /** Cost of the run-rate window and the attributed days it holds. */
  windowCost: bigint;
  windowDays: number;
  runRate: bigint;
  daysElapsed: number;
  daysLeft: number;
  forecast: bigint;
}

/** forecast = month to date + window cost x days left / window days, rounded half to even once, to 1e-12. */
export function forecastOf(monthToDate: bigint, windowCost: bigint, windowDays: number, day: string): Forecast {
  const month = monthOf(day);
  const daysElapsed = Math.round((dayMs(day) - month.start) / DAY_MS) + 1;
  const daysLeft = month.days - daysElapsed;
  const n = BigInt(Math.max(1, windowDays));
  return {
    monthToDate, windowCost, windowDays, daysElapsed, daysLeft,
    runRate: divideHalfEven(windowCost, n),
    forecast: monthToDate + divideHalfEven(windowCost * BigInt(daysLeft), n),
  };
}

/** A share (0.8) as millionths, exactly as written in the config. */
function millionths(share: number): bigint {
  return BigInt(Math.round(share * 1_000_000));
}

/** Share of the budget under which an open alert resolves. */
const resolveShare = (b: Budget): number => b.resolveBelow ?? (b.warnAt ?? 1) - 0.05;

/** Does the forecast reach `share` of the budget? (forecast >= share x budget, in integers.) */
const reaches = (forecast: bigint, budget: bigint, share: bigint): boolean => forecast * SHARE_SCALE >= share * budget;

export function budgetKey(b: Budget): string {
  // ':' separated: a CPP key always holds three '/', so the two never meet for owners without '/'.
  return `budget:${b.by}:${b.owner}:${b.currency}`;
}

/** Money for people: whole units from 100 up ("$14,210"), cents below; other currencies by code. */
export function moneyText(value: bigint, currency: string): string {
  const abs = value < 0n ? -value : value;
  const whole = abs >= 100n * UNIT;
  const rounded = divideHalfEven(abs, whole ? UNIT : UNIT / 100n);
  const text = whole ? rounded.toLocaleString('en-US') : `${(rounded / 100n).toLocaleString('en-US')}.${(rounded % 100n).toString().padStart(2, '0')}`;
  const sign = value < 0n && rounded > 0n ? '-' : '';
  return currency === 'USD' ? `${sign}$${text}` : `${sign}${text} ${currency}`;
}

/** (forecast / budget - 1) as a signed whole percentage: "+18%". */
export function overText(forecast: bigint, budget: bigint): string {
  const p = divideHalfEven((forecast - budget) * 100n, budget);
  return `${p >= 0n ? '+' : ''}${p}%`;
}

export interface BudgetText {
  budget: Budget;
  month: string;
  amount: bigint;
  f: Forecast;
  topModels: [string, bigint][];
  level: 'warning' | 'over';
  estimated: boolean;
}

/** The explanation people read: "team search: forecast $14,210 for 2026-11 vs budget $12,000 (+18%); ..." */
export function explainBudget(t: BudgetText): string {
  const { budget: b, f, amount } = t;
  const c = b.currency;
  const models = t.topModels.map(([m, cost]) => `${m === '' ? '(none)' : m} ${moneyText(cost, c)}`).join(', ');
  const lines = [
    `${b.by} ${b.owner}: forecast ${moneyText(f.forecast, c)} for ${t.month} vs budget ${moneyText(amount, c)} (${overText(f.forecast, amount)}); ` +
      `month to date ${moneyText(f.monthToDate, c)} over ${f.daysElapsed} day${f.daysElapsed === 1 ? '' : 's'}; top models: ${models === '' ? 'none' : models}`,
    `Run rate ${moneyText(f.runRate, c)}/day (mean of the last ${f.windowDays} attributed day${f.windowDays === 1 ? '' : 's'}) x ${f.daysLeft} day${f.daysLeft === 1 ? '' : 's'} left` +
      `${t.estimated ? ' (billing still estimated)' : ''}.`,
    t.level === 'over'
      ? `Level: over budget.`
      : b.warnAt === undefined
        // Without a warning level an open alert under the budget is on its way to resolving.
        ? `Level: back under the budget (forecast at ${divideHalfEven(f.forecast * 100n, amount)}%; resolves under ${Math.round(resolveShare(b) * 100)}%).`
        : `Level: warning (forecast at ${divideHalfEven(f.forecast * 100n, amount)}% of the budget; warns at ${Math.round(b.warnAt * 100)}%).`,
  ];
  return lines.join('\n');
}

export interface BudgetTransition {
  transition: Transition | 'updated';
  alert: AlertRow;
}

export interface BudgetDayResult {
  budgets: number;
  firing: number;
  transitions: BudgetTransition[];
  /** Why the day's budgets were not judged (attribution that does not tie out to the bill). */
  skipped?: string;
}

type Spends = [Map<string, OwnerSpend>, Map<string, OwnerSpend>];

/** Spend of the month to date and of the run-rate window, or why it cannot be told (it does not tie out). */
async function spendsOf(warehouse: Warehouse, by: Budget['by'], monthStart: number, windowStart: number, dayEnd: number): Promise<Spends | string> {
  const settled = await Promise.allSettled([spendOf(warehouse, by, monthStart, dayEnd), spendOf(warehouse, by, windowStart, dayEnd)]);
  const failures = settled.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  // Only the tie-out check turns into a skipped day; anything else is a real failure.
  const other = failures.findIndex((e) => !(e instanceof TieOutError));
  if (other >= 0) throw failures[other];
  const [first] = failures;
  if (first instanceof TieOutError) return first.message;
  const [month, window] = settled.map((r) => (r.status === 'fulfilled' ? r.value : new Map<string, OwnerSpend>()));
  return [month ?? new Map<string, OwnerSpend>(), window ?? new Map<string, OwnerSpend>()];
}

/**
 * Judge every budget on one complete day. `latest` holds the latest episode
 * per alert key and is updated in place; `attributedDays` says which days
 * have attribution (the run rate's divisor counts those of its window).
 */
export async function evaluateBudgetsOn(
  warehouse: Warehouse, budgets: readonly Budget[], day: string, attributedDays: ReadonlySet<string>,
  latest: Map<string, AlertRow>, now: number, estimated: boolean,
): Promise<BudgetDayResult> {
  const result: BudgetDayResult = { budgets: 0, firing: 0, transitions: [] };
  const configured = new Set(budgets.map(budgetKey));
  const removed = [...latest.values()].filter((a) => a.metric === 'budget' && a.status === 'open' && !configured.has(a.alert_key));
  if (budgets.length === 0 && removed.length === 0) return result;
  const month = monthOf(day);
  const dayEnd = dayMs(day) + DAY_MS;
  const windowStart = dayEnd - RUN_RATE_DAYS * DAY_MS;
  let windowDays = 0;
  for (let t = windowStart; t < dayEnd; t += DAY_MS) if (attributedDays.has(dayText(t))) windowDays++;

  // Every spend is read before any episode changes, so a day that does not tie out leaves them all as they were.
  const spends = new Map<Budget['by'], Spends>();
  for (const by of new Set(budgets.map((b) => b.by))) {
    const s = await spendsOf(warehouse, by, month.start, windowStart, dayEnd);
    if (typeof s === 'string') return { ...result, skipped: s };
    spends.set(by, s);
  }

  const stamp = nowText(now);
  // Nobody watches a budget taken out of the configuration: its open episode would otherwise stay open for good.
  for (const a of removed) {
    const ended: AlertRow = {
      ...a, status: 'resolved', resolved_at: stamp, updated_at: stamp, version: nextVersion(),
      summary: `${a.summary}\nThe budget was removed from the configuration: resolved.`,
    };
    latest.set(a.alert_key, ended);
    result.transitions.push({ transition: 'resolved', alert: ended });
  }

  for (const b of budgets) {
    const [monthSpend, windowSpend] = spends.get(b.by) ?? [new Map<string, OwnerSpend>(), new Map<string, OwnerSpend>()];
    const mine = monthSpend.get(spendKey(b.owner, b.currency));
    const f = forecastOf(mine?.cost ?? 0n, windowSpend.get(spendKey(b.owner, b.currency))?.cost ?? 0n, windowDays, day);
    const amount = units(b.monthly);
    const openAt = millionths(b.warnAt ?? 1);
    const over = f.forecast > amount;
    const firing = over || (b.warnAt !== undefined && reaches(f.forecast, amount, openAt));
    const clear = !reaches(f.forecast, amount, millionths(resolveShare(b)));
    result.budgets++;
    if (firing) result.firing++;

    const key = budgetKey(b);
    let previous = latest.get(key);
    // The month of an open episode is over: it resolves as it stood.
    if (previous?.status === 'open' && previous.budget_month !== null && previous.budget_month < dayText(month.start)) {
      const ended: AlertRow = {
        ...previous, status: 'resolved', resolved_at: stamp, updated_at: stamp, version: nextVersion(),
        summary: `${previous.summary}\n${previous.budget_month.slice(0, 7)} is over: resolved.`,
      };
      latest.set(key, ended);
      result.transitions.push({ transition: 'resolved', alert: ended });
      previous = ended;
    }
    if (previous && day < previous.last_day) continue;
    const refresh = previous !== undefined && day === previous.last_day;
    if (refresh && previous?.status !== 'open') continue;
    if (!refresh && previous?.status !== 'open' && !firing) continue;

    const topModels = [...(mine?.models ?? new Map<string, bigint>())].sort((x, y) => (y[1] > x[1] ? 1 : y[1] < x[1] ? -1 : x[0] < y[0] ? -1 : 1)).slice(0, 3);
    const level = over ? 'over' : 'warning';
    const monthEstimated = estimated || (mine?.estimated ?? false);
    const summary = explainBudget({ budget: b, month: month.label, amount, f, topModels, level, estimated: monthEstimated });
    const numbers = {
      last_day: day, updated_at: stamp, level, summary, estimated: monthEstimated,
      relative_increase: Number(f.forecast - amount) / Number(amount),
      requests: Number(mine?.requests ?? 0n),
      budget: fixed(amount), month_to_date: fixed(f.monthToDate), run_rate: fixed(f.runRate), forecast: fixed(f.forecast),
      factors: JSON.stringify({
        budget: fixed(amount), month_to_date: fixed(f.monthToDate), run_rate: fixed(f.runRate), forecast: fixed(f.forecast),
        window_cost: fixed(f.windowCost), window_days: f.windowDays, days_elapsed: f.daysElapsed, days_left: f.daysLeft,
        top_models: topModels.map(([model, cost]) => ({ model_id: model, cost: fixed(cost) })),
      }),
      version: nextVersion(),
    } satisfies Partial<AlertRow>;

    let row: AlertRow;
    let transition: BudgetTransition['transition'] = 'updated';
    if (previous?.status === 'open') {
      row = { ...previous, ...numbers };
      if (!refresh && clear) {
        row.status = 'resolved';
        row.resolved_at = stamp;
        transition = 'resolved';
      } else if (previous.level === 'warning' && level === 'over' && row.opened_level === 'warning') {
        // Those told of a warning hear once that it is now over the budget (the dedupe key
        // <alert_id>:escalated keeps a second crossing in the episode from sending again).
        transition = 'escalated';
      }
    } else {
      row = {
        alert_id: createHash('sha256').update(`${key}\n${day}`).digest('hex').slice(0, 12), alert_key: key,
        model_id: '', feature_id: '', tenant_id: b.by === 'tenant' ? b.owner : '', currency: b.currency,
        metric: 'budget', status: 'open', opened_day: day, opened_at: stamp, resolved_at: null,
        baseline_day: dayText(month.start), baseline_cpp: '0', observed_cpp: '0', baseline_loaded_cpp: '0', observed_loaded_cpp: '0',
        baseline_used_cpp: '0', observed_used_cpp: '0', extra_daily_cost: '0', baseline_requests: 0, dominant_factor: '',
        clear_windows: 0, acknowledged: false, ack_reason: '', ack_at: null,
        budget_by: b.by, owner: b.owner, budget_month: dayText(month.start), opened_level: level, window_hours: 24, ...numbers,
      };
      transition = 'opened';
    }
    latest.set(key, row);
    result.transitions.push({ transition, alert: row });
  }
  return result;
}
