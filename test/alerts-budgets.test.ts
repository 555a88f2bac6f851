/**
 * Budget alerts on the real engine: attribution output for a month written
 * into cost_allocation, pool_cost and coverage_daily, then evaluated day by
 * day. The forecast is month to date + the mean of the last 7 attributed
 * days x the days left, with idle of hours without traffic spread as the
 * chargeback report's `spread` policy does; every figure checked exactly.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { evaluateAlerts } from '../src/alerts/evaluate.js';
import { forecastOf, moneyText } from '../src/alerts/budgets.js';
import { acknowledge, latestAlerts, listAlerts } from '../src/alerts/store.js';
import { configSchema, type Config, type ConfigInput } from '../src/config/config.js';
import { units } from '../src/util/decimal.js';
import type { Warehouse } from '../src/warehouse/warehouse.js';
import { discardWarehouse, freshWarehouse } from './helpers/warehouse.js';
import { receiver, type Receiver } from './helpers/webhook.js';
import { DAY_MS, parseDate } from '../src/util/time.js';

const NOV = Date.UTC(2026, 10, 1);
/** 'YYYY-MM-DD' of day n of November 2026 (1-based; 31 is December 1st). */
const nov = (n: number): string => new Date(NOV + (n - 1) * DAY_MS).toISOString().slice(0, 10);
const NOW = new Date(Date.UTC(2026, 11, 20));
const ATTRIBUTED_AT = '2026-12-05 00:00:00.000';

interface Traffic { pool: string; currency: string; team: string; tenant: string; model: string; cost: string; requests: number }
interface Idle { pool: string; currency: string; billed: string }

/**
 * One attributed day: traffic in the hours 00-23 of each pool, and optionally
 * a last hour (23-24) billed without any request, all idle.
 */
async function writeDay(w: Warehouse, day: string, traffic: Traffic[], idle: Idle[] = [], pending = 0): Promise<void> {
  const at = (h: number): string => new Date(parseDate(day) + h * 3_600_000).toISOString().slice(0, 19).replace('T', ' ');
  const pools = new Map<string, { pool: string; currency: string; billed: bigint; requests: number }>();
  for (const t of traffic) {
    const k = `${t.pool}|${t.currency}`;
    const p = pools.get(k) ?? { pool: t.pool, currency: t.currency, billed: 0n, requests: 0 };
    p.billed += units(t.cost);
    p.requests += t.requests;
    pools.set(k, p);
  }
  const money = (u: bigint): string => `${u / 10n ** 12n}.${(u % 10n ** 12n).toString().padStart(12, '0')}`;
  const common = { billing_version: '2026-12-01 00:00:00.000000', estimated: false, attributed_at: ATTRIBUTED_AT };
  await w.insertObjects('cost_allocation', traffic.map((t) => ({
    period_start: at(0), period_end: at(23), pool_id: t.pool, model_id: t.model, model_version: 'v1', feature_id: 'f', tenant_id: t.tenant, team: t.team,
    requests: t.requests, input_tokens: 0, output_tokens: 0, gpu_ms: String(t.requests * 10), weight_basis: 'gpu_ms', cost: t.cost, used_cost: t.cost,
    currency: t.currency, ...common,
  })));
  await w.insertObjects('pool_cost', [
    ...[...pools.values()].map((p) => ({
      period_start: at(0), period_end: at(23), pool_id: p.pool, currency: p.currency, billed_cost: money(p.billed), allocated_cost: money(p.billed),
      used_cost: money(p.billed), idle_cost: '0', unallocated_cost: '0', capacity_gpu_ms: null, used_gpu_ms: String(p.requests * 10), utilization: null,
      requests: p.requests, weight_basis: 'gpu_ms', ...common,
    })),
    // The last hour: billed, no traffic (a billed pool-day covers all 24 hours, so the day is complete).
    ...[...pools.values()].map((p) => {
      const billed = idle.find((i) => i.pool === p.pool && i.currency === p.currency)?.billed ?? '0';
      return {
        period_start: at(23), period_end: at(24), pool_id: p.pool, currency: p.currency, billed_cost: billed, allocated_cost: '0',
        used_cost: '0', idle_cost: billed, unallocated_cost: '0', capacity_gpu_ms: null, used_gpu_ms: '0', utilization: null,
        requests: 0, weight_basis: '', ...common,
      };
    }),
  ]);
  const requests = traffic.reduce((a, t) => a + t.requests, 0);
  await w.insertObjects('coverage_daily', [...new Set(traffic.map((t) => t.currency))].map((currency) => ({
    day, currency, billed_cost: '0', allocated_cost: '0', idle_cost: '0', unallocated_cost: '0', requests: requests + pending,
    attributed_requests: requests, pending_requests: pending, unknown_pool_requests: 0, attributed_at: ATTRIBUTED_AT,
  })));
}

const config = (alerts: ConfigInput['alerts'] = {}): Pick<Config, 'alerts'> => ({ alerts: configSchema.shape.alerts.parse({ lookbackDays: 60, ...alerts }) });
const SEARCH_BUDGET = { by: 'team', owner: 'search', monthly: '12000.00', currency: 'USD', warnAt: 0.9 } as const;

/**
 * Team search in pool gpu-a with team ads, per day: llama 2x, bert 1x, ads 1x a
 * unit of 100 (days 1-10), 200 (days 11-13), 10 (from day 14); the pool's last
 * hour bills 40 with no traffic, 3/4 of it spread to search (its share of the
 * pool's cost). So search costs 330, then 630, then 60 a day.
 */
async function searchMonth(w: Warehouse, lastDay: number, firstDay = 1): Promise<void> {
  for (let d = firstDay; d <= lastDay; d++) {
    const unit = d <= 10 ? 100 : d <= 13 ? 200 : 10;
    await writeDay(w, nov(d), [
      { pool: 'gpu-a', currency: 'USD', team: 'search', tenant: 'acme', model: 'llama', cost: String(2 * unit), requests: 2000 },
      { pool: 'gpu-a', currency: 'USD', team: 'search', tenant: 'acme', model: 'bert', cost: String(unit), requests: 1000 },
      { pool: 'gpu-a', currency: 'USD', team: 'ads', tenant: 'globex', model: 'ranker', cost: String(unit), requests: 1000 },
    ], [{ pool: 'gpu-a', currency: 'USD', billed: '40' }]);
  }
}

describe('budget alerts', () => {
  let w: Warehouse;
  beforeEach(async () => { w = await freshWarehouse(); });
  afterEach(async () => { await discardWarehouse(w); });

  it('forecasts exactly: month to date + window cost x days left / window days, rounded half to even once', () => {
    const f = forecastOf(units('3930'), units('2610'), 7, nov(11));
    expect([f.daysElapsed, f.daysLeft]).toEqual([11, 19]);
    expect(f.forecast).toBe(units('11014.285714285714'));
    expect(f.runRate).toBe(units('372.857142857143'));
    expect(moneyText(f.forecast, 'USD')).toBe('$11,014');
    expect(moneyText(units('12.345'), 'EUR')).toBe('12.34 EUR');
  });

  it('validates budgets, naming the field', () => {
    const issues = (alerts: unknown): string[] => {
      const r = configSchema.shape.alerts.safeParse(alerts);
      return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    };
    expect(issues({ budgets: [{ by: 'team', owner: 'search', monthly: 12000, currency: 'USD' }] })).toEqual(['budgets.0.monthly: Invalid input: expected string, received number']);
    expect(issues({ budgets: [{ by: 'team', owner: 'search', monthly: '12,000', currency: 'usd' }] })).toEqual([
      'budgets.0.monthly: must be a decimal amount as text, e.g. "12000.00"',
      'budgets.0.currency: must be a currency code such as USD',
    ]);
    expect(issues({ budgets: [{ by: 'owner', owner: 'search', monthly: '0.00', currency: 'USD', warnAt: 1.2 }] }).map((i) => i.split(':')[0])).toEqual([
      'budgets.0.by', 'budgets.0.monthly', 'budgets.0.warnAt',
    ]);
    expect(issues({ budgets: [SEARCH_BUDGET, { ...SEARCH_BUDGET, monthly: '1' }] })).toEqual(['budgets: one budget per (by, owner, currency)']);
    expect(issues({ budgets: [{ ...SEARCH_BUDGET, resolveBelow: 0.95 }] })).toEqual(['budgets.0.resolveBelow: resolveBelow must be below warnAt (or 1 without warnAt)']);
  });

  it('a team under budget does not fire', { timeout: 60_000 }, async () => {
    await searchMonth(w, 10);
    const result = await evaluateAlerts(w, config({ budgets: [SEARCH_BUDGET] }), { now: NOW });
    expect(result.days.map((d) => [d.day, d.status, d.budgets, d.budgetsFiring])).toEqual(
      Array.from({ length: 10 }, (_, i) => [nov(i + 1), 'evaluated', 1, 0]),
    );
    expect(result.transitions).toEqual([]);
    expect((await latestAlerts(w)).size).toBe(0);
  });

  it('fires once when the run rate crosses, escalates to over, follows its level, resolves when the forecast falls back; ack holds', { timeout: 120_000 }, async () => {
    await searchMonth(w, 16);
    const cfg = config({ budgets: [SEARCH_BUDGET] });
    const run = await evaluateAlerts(w, cfg, { now: NOW });
    // Every day 1-16 was owed: one run evaluates them oldest first.
    expect(run.days.map((d) => d.budgetsFiring)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 0]);
    // The same data moves CPP too (the unit cost doubles on day 11): only the budget's episode is looked at here.
    const budget = run.transitions.filter((x) => x.alert.metric === 'budget');
    const t = budget.map((x) => [x.transition, x.alert.last_day, x.alert.level, x.alert.forecast, x.alert.month_to_date, x.alert.run_rate]);
    expect(t).toEqual([
      ['opened', nov(11), 'warning', '11014.285714285714', '3930.000000000000', '372.857142857143'],
      // Opened at warning, now over: announced once more.
      ['escalated', nov(12), 'over', '12042.857142857143', '4560.000000000000', '415.714285714286'],
      ['updated', nov(13), 'over', '12985.714285714286', '5190.000000000000', '458.571428571429'],
      ['updated', nov(14), 'warning', '11970.000000000000', '5250.000000000000', '420.000000000000'],
      ['updated', nov(15), 'warning', '11031.428571428571', '5310.000000000000', '381.428571428571'],
      // 10,170 is under 85% of 12,000 (0.05 under warnAt): resolved.
      ['resolved', nov(16), 'warning', '10170.000000000000', '5370.000000000000', '342.857142857143'],
    ]);
    const opened = budget[0]?.alert;
    expect(opened?.summary).toBe([
      'team search: forecast $11,014 for 2026-11 vs budget $12,000 (-8%); month to date $3,930 over 11 days; top models: llama $2,620, bert $1,310',
      'Run rate $373/day (mean of the last 7 attributed days) x 19 days left.',
      'Level: warning (forecast at 92% of the budget; warns at 90%).',
    ].join('\n'));
    expect(budget[1]?.alert.summary.split('\n')[0]).toBe(
      'team search: forecast $12,043 for 2026-11 vs budget $12,000 (+0%); month to date $4,560 over 12 days; top models: llama $3,040, bert $1,520',
    );
    expect(new Set(budget.map((x) => x.alert.alert_id)).size).toBe(1);
    const stored = (await latestAlerts(w)).get('budget:team:search:USD');
    expect(stored).toMatchObject({ metric: 'budget', status: 'resolved', budget_by: 'team', owner: 'search', budget_month: '2026-11-01', currency: 'USD' });
    expect(units(stored?.budget ?? '')).toBe(units('12000'));

    // Listed with the CPP alerts; ack works on a budget alert as on any other.
    const listed = (await listAlerts(w, false)).filter((r) => r.metric === 'budget');
    expect(listed.map((r) => [r.alert_key, r.metric, r.level, r.status])).toEqual([['budget:team:search:USD', 'budget', 'warning', 'resolved']]);
    const acked = await acknowledge(w, stored?.alert_id ?? '', 'planned');
    expect(acked).toMatchObject({ acknowledged: true, ack_reason: 'planned', status: 'resolved', level: 'warning' });
    expect(units(acked.forecast ?? '')).toBe(units('10170'));
    // Evaluated days are not evaluated again.
    expect((await evaluateAlerts(w, cfg, { now: NOW })).days).toEqual([]);
  });

  it('tenant budgets: resolve when their month is over, and a new month opens its own episode', { timeout: 120_000 }, async () => {
    for (let d = 1; d <= 31; d++) {
      await writeDay(w, nov(d), [
        { pool: 'gpu-b', currency: 'USD', team: 'search', tenant: 'acme', model: 'llama', cost: '200', requests: 100 },
        { pool: 'gpu-b', currency: 'USD', team: 'search', tenant: 'initech', model: 'llama', cost: '50', requests: 100 },
      ]);
    }
    const cfg = config({ budgets: [
      { by: 'tenant', owner: 'acme', monthly: '5000', currency: 'USD' },
      { by: 'tenant', owner: 'initech', monthly: '5000', currency: 'USD' },
    ] });
    const result = await evaluateAlerts(w, cfg, { now: NOW });
    expect(result.days).toHaveLength(31);
    const moves = result.transitions.filter((x) => x.transition !== 'updated').map((x) => [x.transition, x.alert.alert_key, x.alert.budget_month, x.alert.last_day, x.alert.forecast]);
    expect(moves).toEqual([
      // Day 1 alone is its run rate: 200 + 200 x 29.
      ['opened', 'budget:tenant:acme:USD', '2026-11-01', nov(1), '6000.000000000000'],
      ['resolved', 'budget:tenant:acme:USD', '2026-11-01', nov(30), '6000.000000000000'],
      // December 1st: 200 + (7 x 200) / 7 x 30.
      ['opened', 'budget:tenant:acme:USD', '2026-12-01', nov(31), '6200.000000000000'],
    ]);
    const alerts = await latestAlerts(w);
    expect(alerts.get('budget:tenant:acme:USD')).toMatchObject({ status: 'open', tenant_id: 'acme', level: 'over' });
    expect(units(alerts.get('budget:tenant:acme:USD')?.month_to_date ?? '')).toBe(units('200'));
    expect(result.transitions[0]?.alert.summary.split('\n')[0]).toBe(
      'tenant acme: forecast $6,000 for 2026-11 vs budget $5,000 (+20%); month to date $200 over 1 day; top models: llama $200',
    );
    expect(alerts.has('budget:tenant:initech:USD')).toBe(false);
  });

  it('never adds two currencies: each budget counts only its own', { timeout: 60_000 }, async () => {
    for (let d = 1; d <= 10; d++) {
      await writeDay(w, nov(d), [
        { pool: 'gpu-a', currency: 'USD', team: 'search', tenant: 'acme', model: 'llama', cost: '330', requests: 1000 },
        { pool: 'gpu-eu', currency: 'EUR', team: 'search', tenant: 'acme', model: 'llama', cost: '1000', requests: 1000 },
      ]);
    }
    const cfg = config({ budgets: [SEARCH_BUDGET, { by: 'team', owner: 'search', monthly: '25000', currency: 'EUR' }] });
    const result = await evaluateAlerts(w, cfg, { day: nov(10), now: NOW });
    expect(result.days.map((d) => [d.budgets, d.budgetsFiring])).toEqual([[2, 1]]);
    expect(result.transitions.map((x) => [x.transition, x.alert.alert_key, x.alert.currency, x.alert.month_to_date, x.alert.forecast])).toEqual([
      ['opened', 'budget:team:search:EUR', 'EUR', '10000.000000000000', '30000.000000000000'],
    ]);
    expect(result.transitions[0]?.alert.summary).toMatch(/^team search: forecast 30,000 EUR for 2026-11 vs budget 25,000 EUR \(\+20%\)/);
  });

  it('waits while a day is incomplete, then fires once it is', { timeout: 60_000 }, async () => {
    for (let d = 1; d <= 10; d++) {
      await writeDay(w, nov(d), [{ pool: 'gpu-a', currency: 'USD', team: 'search', tenant: 'acme', model: 'llama', cost: '500', requests: 1000 }], [], d === 10 ? 40 : 0);
    }
    const cfg = config({ budgets: [SEARCH_BUDGET] });
    const waiting = await evaluateAlerts(w, cfg, { day: nov(10), now: NOW });
    expect(waiting.days).toEqual([expect.objectContaining({ day: nov(10), status: 'waiting', reason: '40 requests still wait for their bill', budgets: 0 })]);
    expect(waiting.transitions).toEqual([]);
    expect((await latestAlerts(w)).size).toBe(0);

    // The bill lands and the day is attributed again: nothing pending, a newer attribution.
    await w.command('ALTER TABLE coverage_daily DELETE WHERE day = {day:Date}', { day: nov(10) }, { mutations_sync: '2' });
    await w.insertObjects('coverage_daily', [{
      day: nov(10), currency: 'USD', billed_cost: '0', allocated_cost: '0', idle_cost: '0', unallocated_cost: '0', requests: 1000,
      attributed_requests: 1000, pending_requests: 0, unknown_pool_requests: 0, attributed_at: '2026-12-06 00:00:00.000',
    }]);
    const landed = await evaluateAlerts(w, cfg, { day: nov(10), now: NOW });
    expect(landed.transitions.map((x) => [x.transition, x.alert.level, x.alert.forecast])).toEqual([['opened', 'over', '15000.000000000000']]);
  });

  describe('with a webhook', () => {
    let peer: Receiver;
    beforeEach(async () => { peer = await receiver(0); });
    afterEach(async () => { await peer.close(); });
    const withWebhook = (budgets: NonNullable<ConfigInput['alerts']>['budgets']): Pick<Config, 'alerts'> =>
      config({ budgets, webhooks: [{ name: 'finance', url: peer.url, kind: 'slack' }], retries: 0, retryMinMs: 5 });

    /** Team search alone, a cost a day (100 requests: too few for a CPP key to be judged, so only budgets notify). */
    const searchDays = async (costs: Record<number, string>): Promise<void> => {
      for (const [d, cost] of Object.entries(costs)) {
        await writeDay(w, nov(Number(d)), [{ pool: 'gpu-a', currency: 'USD', team: 'search', tenant: 'acme', model: 'llama', cost, requests: 100 }]);
      }
    };

    it('warning then over notifies the escalation once per episode; a failed one is sent by a later run', { timeout: 120_000 }, async () => {
      const cfg = withWebhook([SEARCH_BUDGET]);
      // 380 a day: forecast 30 x 380 = 11,400, at warning (90% is 10,800).
      await searchDays({ 1: '380', 2: '380', 3: '380', 4: '380', 5: '380' });
      const first = await evaluateAlerts(w, cfg, { now: NOW });
      expect(first.transitions.filter((t) => t.transition !== 'updated').map((t) => [t.transition, t.alert.level, t.alert.opened_level])).toEqual([['opened', 'warning', 'warning']]);
      const id = first.transitions[0]?.alert.alert_id ?? '';
      expect(first.deliveries).toEqual([expect.objectContaining({ dedupeKey: `${id}:opened`, outcome: 'delivered' })]);

      // 2,500 to date + 2,500 / 6 x 24: 12,500, over. The webhook is down for it.
      await searchDays({ 6: '600' });
      peer.failNext(1);
      const second = await evaluateAlerts(w, cfg, { now: NOW });
      expect(second.transitions.map((t) => [t.transition, t.alert.level, t.alert.forecast])).toEqual([['escalated', 'over', '12500.000000000000']]);
      expect(second.deliveries).toEqual([expect.objectContaining({ dedupeKey: `${id}:escalated`, outcome: 'failed', error: 'HTTP 503' })]);
      expect([...peer.shown.keys()]).toEqual([`${id}:opened`]);

      // A later run (day 6 evaluated again, still over): the escalation is still owed, and goes out.
      const third = await evaluateAlerts(w, cfg, { now: NOW, day: nov(6) });
      expect(third.transitions.map((t) => [t.transition, t.alert.level])).toEqual([['updated', 'over']]);
      expect(third.deliveries).toEqual([expect.objectContaining({ dedupeKey: `${id}:escalated`, outcome: 'delivered', attempts: 1 })]);
      expect([...peer.shown.keys()]).toEqual([`${id}:opened`, `${id}:escalated`]);
      expect(peer.shown.get(`${id}:escalated`)?.split('\n').slice(0, 2)).toEqual([
        `:money_with_wings: Budget forecast now over (team search, 2026-11) · alert ${id}`,
        'team search: forecast $12,500 for 2026-11 vs budget $12,000 (+4%); month to date $2,500 over 6 days; top models: llama $2,500',
      ]);
      const received = peer.received.length;

      // Back to warning (11,571), then over again (12,891): the same episode, nothing more sent.
      await searchDays({ 7: '200', 8: '700' });
      const fourth = await evaluateAlerts(w, cfg, { now: NOW });
      expect(fourth.transitions.map((t) => [t.transition, t.alert.alert_id, t.alert.level])).toEqual([['updated', id, 'warning'], ['escalated', id, 'over']]);
      expect(fourth.deliveries).toEqual([]);
      expect(peer.received).toHaveLength(received);
      expect((await latestAlerts(w)).get('budget:team:search:USD')).toMatchObject({ status: 'open', level: 'over', opened_level: 'warning' });
    });

    it('an episode that opens over does not escalate', { timeout: 60_000 }, async () => {
      // 500 a day: 15,000, over from the first day; a dip to warning and back is no escalation.
      await searchDays({ 1: '500', 2: '500', 3: '500', 4: '500', 5: '300', 6: '50', 7: '900' });
      const result = await evaluateAlerts(w, withWebhook([SEARCH_BUDGET]), { now: NOW });
      expect(result.transitions.map((t) => [t.transition, t.alert.level])).toEqual([
        ['opened', 'over'], ['updated', 'over'], ['updated', 'over'], ['updated', 'over'], ['updated', 'over'], ['updated', 'warning'], ['updated', 'over'],
      ]);
      expect([...peer.shown.keys()].map((k) => k.split(':')[1])).toEqual(['opened']);
    });

    it('a budget removed from the configuration resolves its open episode and says so', { timeout: 120_000 }, async () => {
      await searchMonth(w, 11);
      const opened = await evaluateAlerts(w, withWebhook([SEARCH_BUDGET]), { now: NOW });
      const alert = opened.transitions.find((t) => t.alert.metric === 'budget')?.alert;
      expect(alert).toMatchObject({ status: 'open', level: 'warning', last_day: nov(11) });
      const id = alert?.alert_id ?? '';

      await searchMonth(w, 12, 12);
      const removed = await evaluateAlerts(w, withWebhook([]), { now: NOW, day: nov(12) });
      expect(removed.days.map((d) => [d.day, d.status, d.budgets])).toEqual([[nov(12), 'evaluated', 0]]);
      const budget = removed.transitions.filter((t) => t.alert.metric === 'budget');
      expect(budget.map((t) => [t.transition, t.alert.alert_id, t.alert.status, t.alert.last_day])).toEqual([['resolved', id, 'resolved', nov(11)]]);
      expect(budget[0]?.alert.summary).toBe(`${alert?.summary ?? ''}\nThe budget was removed from the configuration: resolved.`);
      expect(removed.deliveries).toEqual(expect.arrayContaining([expect.objectContaining({ dedupeKey: `${id}:resolved`, outcome: 'delivered' })]));
      expect(peer.shown.get(`${id}:resolved`)).toMatch(/^:white_check_mark: Budget[^\n]*\n[\s\S]*The budget was removed from the configuration: resolved\.$/);
      expect((await latestAlerts(w)).get('budget:team:search:USD')).toMatchObject({ alert_id: id, status: 'resolved' });

      // Resolved once: a later day has nothing more to say about it.
      const later = await evaluateAlerts(w, withWebhook([]), { now: NOW });
      expect(later.transitions.filter((t) => t.alert.metric === 'budget')).toEqual([]);
    });
  });

  it('a day that does not tie out skips its budgets with the reason; CPP alerts are still judged', { timeout: 120_000 }, async () => {
    await searchMonth(w, 12);
    // Day 12 gains an allocated cost the pool was never billed: its month no longer ties out to the bill.
    await w.insertObjects('cost_allocation', [{
      period_start: `${nov(12)} 05:00:00`, period_end: `${nov(12)} 06:00:00`, pool_id: 'gpu-a', model_id: 'llama', model_version: 'v1', feature_id: 'f',
      tenant_id: 'acme', team: 'search', requests: 0, input_tokens: 0, output_tokens: 0, gpu_ms: '0', weight_basis: 'gpu_ms', cost: '7', used_cost: '7',
      currency: 'USD', billing_version: '2026-12-01 00:00:00.000000', estimated: false, attributed_at: ATTRIBUTED_AT,
    }]);
    const result = await evaluateAlerts(w, config({ budgets: [SEARCH_BUDGET] }), { now: NOW });
    expect(result.days.map((d) => [d.day, d.status, d.budgets, d.budgetsFiring, d.budgetsSkipped])).toEqual([
      ...Array.from({ length: 10 }, (_, i) => [nov(i + 1), 'evaluated', 1, 0, undefined]),
      [nov(11), 'evaluated', 1, 1, undefined],
      [nov(12), 'evaluated', 0, 0, expect.stringMatching(/^report does not tie out in USD under idle policy spread: billed \d+ units, lines \d+ units/)],
    ]);
    // CPP alerts of day 12 were judged as on any other day.
    const day12 = result.days[11];
    expect(day12?.keys).toBeGreaterThan(0);
    expect(result.transitions.filter((t) => t.alert.metric !== 'budget' && t.alert.last_day === nov(12))).not.toEqual([]);
    // The budget's episode stands as day 11 left it.
    const budget = result.transitions.filter((t) => t.alert.metric === 'budget');
    expect(budget.map((t) => [t.transition, t.alert.last_day, t.alert.level])).toEqual([['opened', nov(11), 'warning']]);
    expect((await latestAlerts(w)).get('budget:team:search:USD')).toMatchObject({ status: 'open', last_day: nov(11), level: 'warning' });
  });
});
