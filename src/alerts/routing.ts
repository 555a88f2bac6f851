/**
 * Which webhooks an alert goes to (alerts.routes). An alert belongs to teams
 * and tenants, its audience:
 *
 *   budget alert                  its owner: a team (by team) or a tenant (by tenant)
 *   CPP alert                     every team with requests of its key on the days of its episode,
 *                                 opened_day through last_day (cost_allocation.team, read at delivery)
 *   CPP alert keyed by tenant     the same teams, and its tenant (alerts.byTenant)
 *
 * A route claims an alert when it names one of the alert's teams or tenants;
 * the alert goes to the webhooks of every route claiming it, and to the
 * default webhooks when no route claims it or a claiming route says
 * alsoDefault. A webhook is a default one when it says so, or (unset) when
 * no route names it: a team's webhook never gets another team's alerts
 * unless configured to, and a configuration without routes sends every
 * alert to every webhook, as before routes existed.
 *
 * Teams are not stored with the alert: they are read when it is delivered,
 * so a delivery retried by a later run reaches the same webhooks unless the
 * episode's days were attributed again with other teams, and a team whose
 * traffic joins an open episode is told of its opening by the next run.
 */
import { z } from 'zod';
import type { Config } from '../config/config.js';
import { sqlFile } from '../warehouse/sql-files.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import type { AlertRow } from './store.js';
import { DAY_MS, formatDate, parseDate } from '../util/time.js';

type AlertSettings = Pick<Config['alerts'], 'webhooks' | 'routes' | 'byTenant'>;
export type Webhook = Config['alerts']['webhooks'][number];

/** Who an alert belongs to: what routes are matched against. */
export interface Audience {
  teams: readonly string[];
  tenants: readonly string[];
}

const NOBODY: Audience = { teams: [], tenants: [] };

const teamsRow = z.object({ alert_id: z.string(), teams: z.array(z.string()) });

/** Does this webhook get the alerts no route claims? Said by `default`, else: when no route names it. */
export function isDefaultWebhook(settings: Pick<AlertSettings, 'routes'>, webhook: Webhook): boolean {
  return webhook.default ?? !settings.routes.some((r) => r.webhooks.includes(webhook.name));
}

/** The webhooks an alert with this audience goes to, in the order of alerts.webhooks. */
export function webhooksFor(settings: Pick<AlertSettings, 'webhooks' | 'routes'>, audience: Audience): Webhook[] {
  const claiming = settings.routes.filter((r) =>
    (r.teams ?? []).some((t) => audience.teams.includes(t)) || (r.tenants ?? []).some((t) => audience.tenants.includes(t)));
  const named = new Set(claiming.flatMap((r) => r.webhooks));
  const toDefault = claiming.length === 0 || claiming.some((r) => r.alsoDefault);
  return settings.webhooks.filter((w) => named.has(w.name) || (toDefault && isDefaultWebhook(settings, w)));
}

/** The audience an alert row says by itself: a budget's owner, a CPP alert's tenant; its teams come from traffic. */
export function ownAudience(alert: AlertRow): Audience {
  if (alert.metric === 'budget') {
    if (alert.budget_by === 'team') return { teams: [alert.owner], tenants: [] };
    if (alert.budget_by === 'tenant') return { teams: [], tenants: [alert.owner] };
    return NOBODY;
  }
  // tenant_id is set on CPP alerts keyed by tenant only.
  return { teams: [], tenants: alert.tenant_id === '' ? [] : [alert.tenant_id] };
}

/**
 * The audience of each alert, by alert id: one query for the teams of all
 * the CPP alerts, and none when no route names teams (teams would not
 * change where anything goes).
 */
export async function audiencesOf(warehouse: Warehouse, settings: AlertSettings, alerts: readonly AlertRow[]): Promise<Map<string, Audience>> {
  const out = new Map(alerts.map((a) => [a.alert_id, ownAudience(a)]));
  const cpp = alerts.filter((a) => a.metric !== 'budget');
  if (cpp.length === 0 || !settings.routes.some((r) => r.teams !== undefined)) return out;
  let body = '';
  let from = '9999-12-31';
  let to = '0000-01-01';
  for (const a of cpp) {
    // A key with a tenant was judged per tenant, whatever byTenant says now.
    const byTenant = settings.byTenant || a.tenant_id !== '';
    body += `${JSON.stringify([a.alert_id, a.opened_day, a.last_day, a.model_id, a.feature_id, byTenant, a.tenant_id, a.currency])}\n`;
    if (a.opened_day < from) from = a.opened_day;
    if (a.last_day > to) to = a.last_day;
  }
  const table = {
    param: 'asked', body,
    columns: [
      ['alert_id', 'String'], ['first_day', 'Date'], ['last_day', 'Date'], ['model_id', 'String'], ['feature_id', 'String'],
      ['by_tenant', 'Bool'], ['tenant', 'String'], ['currency', 'String'],
    ] as const,
  };
  const rows = await warehouse.queryWithTable(sqlFile('alerts/alert-teams'), { from, to: formatDate(parseDate(to) + DAY_MS) }, table, teamsRow);
  for (const r of rows) {
    const own = out.get(r.alert_id) ?? NOBODY;
    out.set(r.alert_id, { ...own, teams: r.teams.filter((t) => t !== '') });
  }
  return out;
}
