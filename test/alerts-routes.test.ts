/**
 * Alert routes (alerts.routes): a team's or tenant's alerts go to its own
 * webhooks, the rest to the default ones. The configuration is refused with
 * the field named; the routing itself is checked as a pure function; and on
 * the real engine, three real HTTP receivers (two teams' and the default
 * one) get exactly their alerts: never one team's alert at another team's
 * webhook, a key whose traffic spans both teams at both, retries per webhook.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluateAlerts } from '../src/alerts/evaluate.js';
import { notify } from '../src/alerts/notify.js';
import { audiencesOf, ownAudience, webhooksFor, type Audience } from '../src/alerts/routing.js';
import { NO_BUDGET, type AlertRow } from '../src/alerts/store.js';
import { configSchema, ConfigError, loadConfig } from '../src/config/config.js';
import type { Warehouse } from '../src/warehouse/warehouse.js';
import { DAY_MS } from '../src/util/time.js';
import { dayOf, START, writeScenario, type KeySpec, type Scenario } from './helpers/alerts-data.js';
import { tempDir, writeTemp } from './helpers/files.js';
import { discardWarehouse, freshWarehouse } from './helpers/warehouse.js';
import { receiver, type Receiver } from './helpers/webhook.js';

const hook = (name: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({ name, url: `https://hooks.example.com/${name}`, ...extra });

function issues(alerts: unknown): string[] {
  const r = configSchema.shape.alerts.safeParse(alerts);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('alert routes: configuration', () => {
  it('refuses unknown webhooks, empty lists, teams with tenants, and a webhook left with nothing, naming the field', () => {
    const webhooks = [hook('oncall'), hook('search')];
    expect(issues({ webhooks, routes: [{ teams: ['search'], webhooks: ['search', 'serach'] }] }))
      .toEqual(['routes.0.webhooks.1: no webhook named "serach" in alerts.webhooks']);
    expect(issues({ webhooks, routes: [{ teams: [], webhooks: [] }] }))
      .toEqual(['routes.0.teams: must name at least one team', 'routes.0.webhooks: must name at least one webhook']);
    expect(issues({ webhooks, routes: [{ teams: ['search'], tenants: ['acme'], webhooks: ['search'] }] }))
      .toEqual(['routes.0.tenants: a route names teams or tenants, not both: make it two routes']);
    expect(issues({ webhooks, routes: [{ webhooks: ['search'] }] })).toEqual(['routes.0.teams: a route names its teams or its tenants']);
    expect(issues({ webhooks, routes: [{ teams: ['(idle)'], webhooks: ['search'] }] })[0]).toMatch(/^routes\.0\.teams\.0: "\(idle\)" is reserved/);
    expect(issues({ webhooks: [hook('oncall'), hook('search', { default: false })] }))
      .toEqual(['webhooks.1.default: this webhook would get nothing: default is false and no route names it']);
    expect(issues({ webhooks, routes: [{ tenants: ['acme'], webhooks: ['search'], alsoDefault: true }] })).toEqual([]);

    // Through loadConfig, the path names the section and the config file.
    const file = writeTemp(tempDir(), 'routes.json', JSON.stringify({ alerts: { webhooks, routes: [{ teams: ['ads'], webhooks: ['ads'] }] } }));
    let problems: string[] = [];
    try {
      loadConfig({ env: {}, file });
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems = err.problems;
    }
    expect(problems).toEqual([`alerts.routes.0.webhooks.0 (from config file ${file}): no webhook named "ads" in alerts.webhooks`]);
  });

  it('sends a claimed alert to its routes\' webhooks only, the rest (and alsoDefault) to the default ones', () => {
    const settings = configSchema.shape.alerts.parse({
      webhooks: [hook('oncall'), hook('search'), hook('ads'), hook('finance', { default: true })],
      routes: [
        { teams: ['search'], webhooks: ['search'] },
        { teams: ['ads'], webhooks: ['ads', 'finance'], alsoDefault: true },
        { tenants: ['acme'], webhooks: ['search'] },
      ],
    });
    const to = (audience: Partial<Audience>): string[] => webhooksFor(settings, { teams: [], tenants: [], ...audience }).map((w) => w.name);
    // search and ads are named by routes: not default; finance says it is.
    expect(to({ teams: ['search'] })).toEqual(['search']);
    expect(to({ teams: ['ads'] })).toEqual(['oncall', 'ads', 'finance']);
    expect(to({ teams: ['search', 'ads'] })).toEqual(['oncall', 'search', 'ads', 'finance']);
    expect(to({ teams: ['other'] })).toEqual(['oncall', 'finance']);
    expect(to({})).toEqual(['oncall', 'finance']);
    expect(to({ tenants: ['acme'] })).toEqual(['search']);
    expect(to({ teams: ['other'], tenants: ['acme'] })).toEqual(['search']);
    // Without routes every webhook gets every alert, as before routes existed.
    const plain = configSchema.shape.alerts.parse({ webhooks: [hook('a'), hook('b', { kind: 'slack' })] });
    expect(webhooksFor(plain, { teams: ['search'], tenants: ['acme'] }).map((w) => w.name)).toEqual(['a', 'b']);

    expect(ownAudience(alert({ metric: 'budget', budget_by: 'team', owner: 'search' }))).toEqual({ teams: ['search'], tenants: [] });
    expect(ownAudience(alert({ metric: 'budget', budget_by: 'tenant', owner: 'acme', tenant_id: 'acme' }))).toEqual({ teams: [], tenants: ['acme'] });
    expect(ownAudience(alert({ tenant_id: 'acme' }))).toEqual({ teams: [], tenants: ['acme'] });
    expect(ownAudience(alert({}))).toEqual({ teams: [], tenants: [] });
  });
});

/**
 * Four keys regress on day 10, a Friday (GPU-ms per request doubles), each in pools of
 * its own: llm/chat is team search's, emb/embed team ads', cls/spam the
 * helper's team "team" (no route), and rank/feed runs half in a pool of
 * search's and half in one of ads'.
 */
const regress = (model: string, feature: string, pool: string): KeySpec => ({
  model, feature, requests: () => ({ [pool]: 400_000 }), gpuMsPerRequest: (d) => (d >= 10 ? 200 : 100),
});
const SCENARIO: Scenario = {
  days: 11,
  pools: ['p-llm', 'p-emb', 'p-cls', 'p-rank-a', 'p-rank-b'].map((id) => ({ id, pricePerGpuHour: () => 2, gpus: () => 16 })),
  keys: [regress('llm', 'chat', 'p-llm'), regress('emb', 'embed', 'p-emb'), regress('cls', 'spam', 'p-cls'), regress('rank', 'feed', 'p-rank-a'), regress('rank', 'feed', 'p-rank-b')],
};
const TEAM_OF_POOL = { 'p-llm': 'search', 'p-rank-a': 'search', 'p-emb': 'ads', 'p-rank-b': 'ads' };
const DAY = dayOf(10);
const NOW = new Date(START + 20 * DAY_MS);

describe('alert routes: delivery', () => {
  let w: Warehouse;
  const peers: Record<string, Receiver> = {};
  beforeAll(async () => {
    w = await freshWarehouse();
    await writeScenario(w, SCENARIO);
    // The helper writes every row as team "team": the pools above belong to search and ads.
    for (const [pool, team] of Object.entries(TEAM_OF_POOL)) {
      await w.command('INSERT INTO cost_allocation SELECT * REPLACE ({team:String} AS team) FROM cost_allocation WHERE pool_id = {pool:String}', { team, pool });
    }
    await w.command("ALTER TABLE cost_allocation DELETE WHERE team = 'team' AND pool_id != 'p-cls'", {}, { mutations_sync: '2' });
    // ads fails its first two requests: its deliveries fail (no retries) and a later run sends them.
    Object.assign(peers, { oncall: await receiver(0), search: await receiver(0), ads: await receiver(2) });
  }, 60_000);
  afterAll(async () => {
    await Promise.all(Object.values(peers).map((p) => p.close()));
    await discardWarehouse(w);
  });

  it('sends each team\'s alerts to its own webhooks only, a shared key to both, the rest to the default; retries per webhook', { timeout: 60_000 }, async () => {
    const url = (name: string): string => peers[name]?.url ?? '';
    const alerts = configSchema.shape.alerts.parse({
      webhooks: ['oncall', 'search', 'ads'].map((name) => ({ name, url: url(name), kind: 'json' })),
      routes: [{ teams: ['search'], webhooks: ['search'] }, { teams: ['ads'], webhooks: ['ads'] }],
      budgets: [{ by: 'team', owner: 'search', monthly: '1.00', currency: 'USD' }],
      retries: 0, retryMinMs: 5,
    });
    const first = await evaluateAlerts(w, { alerts }, { day: DAY, now: NOW });
    const keyOf = new Map(first.transitions.map((t) => [t.alert.alert_id, t.alert.alert_key]));
    expect(first.transitions.map((t) => [t.transition, t.alert.alert_key]).sort()).toEqual([
      ['opened', 'budget:team:search:USD'], ['opened', 'cls/spam//USD'], ['opened', 'emb/embed//USD'], ['opened', 'llm/chat//USD'], ['opened', 'rank/feed//USD'],
    ]);
    /** The alert keys a receiver has shown (accepted), and every one it was sent (accepted or not). */
    const shown = (name: string): (string | undefined)[] => [...(peers[name]?.shown.keys() ?? [])].map((k) => keyOf.get(k.split(':')[0] ?? '')).sort();
    const sent = (name: string): (string | undefined)[] => [...new Set((peers[name]?.received ?? []).map((r) => keyOf.get(r.key?.split(':')[0] ?? '')))].sort();

    expect(shown('search')).toEqual(['budget:team:search:USD', 'llm/chat//USD', 'rank/feed//USD']);
    expect(sent('ads')).toEqual(['emb/embed//USD', 'rank/feed//USD']);
    expect(shown('ads')).toEqual([]);
    expect(shown('oncall')).toEqual(['cls/spam//USD']);
    expect(first.deliveries.filter((d) => d.outcome === 'failed').map((d) => d.webhook)).toEqual(['ads', 'ads']);

    // The next run sends ads what failed, and nothing again to the webhooks that accepted it.
    const second = await evaluateAlerts(w, { alerts }, { day: DAY, now: NOW });
    expect(second.deliveries.map((d) => [d.webhook, d.outcome, d.attempts])).toEqual([['ads', 'delivered', 1], ['ads', 'delivered', 1]]);
    expect(shown('ads')).toEqual(['emb/embed//USD', 'rank/feed//USD']);
    expect(peers['search']?.received).toHaveLength(3);
    expect(peers['oncall']?.received).toHaveLength(1);

    // notify() on its own routes the same way: each alert's webhooks, and only them, already have it.
    const sentBy = async (key: string): Promise<string[][]> => {
      const row = first.transitions.find((t) => t.alert.alert_key === key)?.alert;
      if (!row) throw new Error(`no alert of ${key}`);
      return (await notify(w, alerts, row, 'opened')).map((d) => [d.webhook, d.outcome]);
    };
    expect(await sentBy('budget:team:search:USD')).toEqual([['search', 'already-delivered']]);
    expect(await sentBy('rank/feed//USD')).toEqual([['search', 'already-delivered'], ['ads', 'already-delivered']]);
    expect(await sentBy('cls/spam//USD')).toEqual([['oncall', 'already-delivered']]);
  });

  it('reads the teams of a CPP alert from its key\'s traffic over its episode, of its tenant only when keyed by tenant', { timeout: 30_000 }, async () => {
    const settings = configSchema.shape.alerts.parse({ webhooks: [hook('search')], routes: [{ teams: ['search'], webhooks: ['search'] }] });
    const asked = [
      alert({ alert_id: 'shared', model_id: 'rank', feature_id: 'feed' }),
      alert({ alert_id: 't1', model_id: 'rank', feature_id: 'feed', tenant_id: 't1' }),
      alert({ alert_id: 't2', model_id: 'rank', feature_id: 'feed', tenant_id: 't2' }),
      alert({ alert_id: 'later', model_id: 'llm', feature_id: 'chat', opened_day: dayOf(20), last_day: dayOf(21) }),
      alert({ alert_id: 'budget', metric: 'budget', budget_by: 'team', owner: 'ads' }),
    ];
    const audiences = await audiencesOf(w, settings, asked);
    expect(Object.fromEntries(audiences)).toEqual({
      shared: { teams: ['ads', 'search'], tenants: [] },
      t1: { teams: ['ads', 'search'], tenants: ['t1'] },
      t2: { teams: [], tenants: ['t2'] },
      later: { teams: [], tenants: [] },
      budget: { teams: ['ads'], tenants: [] },
    });
    // No team route: teams would change nothing, and are not read.
    const tenantsOnly = configSchema.shape.alerts.parse({ webhooks: [hook('acme')], routes: [{ tenants: ['t1'], webhooks: ['acme'] }] });
    expect((await audiencesOf(w, tenantsOnly, asked)).get('t1')).toEqual({ teams: [], tenants: ['t1'] });
  });
});

/** A CPP alert of llm/chat on DAY, with overrides. */
function alert(overrides: Partial<AlertRow>): AlertRow {
  return {
    alert_id: 'a', alert_key: '', model_id: 'llm', feature_id: 'chat', tenant_id: '', currency: 'USD', metric: 'used', status: 'open',
    opened_day: DAY, last_day: DAY, opened_at: '2026-10-10 00:00:00.000', updated_at: '2026-10-10 00:00:00.000', resolved_at: null,
    baseline_day: dayOf(3), baseline_cpp: '0', observed_cpp: '0', baseline_loaded_cpp: '0', observed_loaded_cpp: '0', baseline_used_cpp: '0', observed_used_cpp: '0',
    relative_increase: 1, extra_daily_cost: '0', requests: 0, baseline_requests: 0, dominant_factor: '', factors: '{}', summary: '', clear_windows: 0,
    acknowledged: false, ack_reason: '', ack_at: null, estimated: false, window_hours: 24, version: 1, ...NO_BUDGET, ...overrides,
  };
}
