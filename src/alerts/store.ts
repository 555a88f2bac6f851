/**
 * Alert state in the warehouse: cpp_alerts (a ReplacingMergeTree keyed by
 * alert id; every change is a new row with a higher version, read with
 * FINAL), cpp_alert_evaluations (which day was evaluated against which
 * attribution) and cpp_alert_deliveries (notifications delivered).
 */
import { z } from 'zod';
import { sqlFile } from '../warehouse/sql-files.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import type { AckReason } from './ack-reasons.js';

export const alertRow = z.object({
  alert_id: z.string(),
  alert_key: z.string(),
  model_id: z.string(),
  feature_id: z.string(),
  tenant_id: z.string(),
  currency: z.string(),
  metric: z.enum(['loaded', 'used', 'budget']),
  status: z.enum(['open', 'resolved']),
  opened_day: z.string(),
  last_day: z.string(),
  opened_at: z.string(),
  updated_at: z.string(),
  resolved_at: z.string().nullable(),
  baseline_day: z.string(),
  baseline_cpp: z.string(),
  observed_cpp: z.string(),
  baseline_loaded_cpp: z.string(),
  observed_loaded_cpp: z.string(),
  baseline_used_cpp: z.string(),
  observed_used_cpp: z.string(),
  relative_increase: z.number(),
  extra_daily_cost: z.string(),
  requests: z.coerce.number(),
  baseline_requests: z.coerce.number(),
  dominant_factor: z.string(),
  factors: z.string(),
  summary: z.string(),
  clear_windows: z.coerce.number(),
  acknowledged: z.boolean(),
  ack_reason: z.string(),
  ack_at: z.string().nullable(),
  estimated: z.boolean(),
  /** Hours of last_day the numbers cover: 24, or fewer for the current day judged before it is complete. */
  window_hours: z.coerce.number().int().min(0).max(24),
  version: z.coerce.number(),
  // Budget alerts only (metric 'budget'); CPP alerts hold the defaults of NO_BUDGET.
  level: z.enum(['', 'warning', 'over']),
  budget_by: z.enum(['', 'team', 'tenant']),
  owner: z.string(),
  budget_month: z.string().nullable(),
  budget: z.string().nullable(),
  month_to_date: z.string().nullable(),
  run_rate: z.string().nullable(),
  forecast: z.string().nullable(),
  /** The level the episode opened at: an escalation to over is announced only after a warning. */
  opened_level: z.enum(['', 'warning', 'over']),
});
export type AlertRow = z.infer<typeof alertRow>;

/** The budget columns of a CPP alert. */
export const NO_BUDGET = {
  level: '', budget_by: '', owner: '', budget_month: null, budget: null, month_to_date: null, run_rate: null, forecast: null, opened_level: '',
} as const satisfies Partial<AlertRow>;

let lastVersion = 0;
/** Increasing row versions within a process (microseconds since the epoch, bumped on ties). */
export function nextVersion(): number {
  lastVersion = Math.max(lastVersion + 1, Date.now() * 1000);
  return lastVersion;
}

export function nowText(ms = Date.now()): string {
  return new Date(ms).toISOString().slice(0, 23).replace('T', ' ');
}

/** The latest episode of every key, keyed by alert_key. */
export async function latestAlerts(warehouse: Warehouse): Promise<Map<string, AlertRow>> {
  const rows = await warehouse.query(sqlFile('alerts/alerts-of-keys'), {}, alertRow);
  return new Map(rows.map((r) => [r.alert_key, r]));
}

export async function writeAlerts(warehouse: Warehouse, rows: readonly AlertRow[]): Promise<void> {
  if (rows.length > 0) await warehouse.insertObjects('cpp_alerts', rows);
}

export async function alertById(warehouse: Warehouse, id: string): Promise<AlertRow | undefined> {
  const [row] = await warehouse.query(sqlFile('alerts/alert-by-id'), { alert_id: id }, alertRow);
  return row;
}


/** Acknowledge an alert: a new version of its row; it keeps updating and resolving as before. */
export async function acknowledge(warehouse: Warehouse, id: string, reason: AckReason): Promise<AlertRow> {
  const current = await alertById(warehouse, id);
  if (!current) throw new Error(`no alert with id ${id}`);
  const row: AlertRow = { ...current, acknowledged: true, ack_reason: reason, ack_at: nowText(), version: nextVersion() };
  await writeAlerts(warehouse, [row]);
  return row;
}

export const listRow = z.object({
  alert_id: z.string(), status: z.string(), metric: z.string(), level: z.string(), alert_key: z.string(), opened_day: z.string(), last_day: z.string(),
  relative_increase: z.number(), extra_daily_cost: z.string(), currency: z.string(), dominant_factor: z.string(), summary: z.string(),
  acknowledged: z.boolean(), ack_reason: z.string(),
});

export async function listAlerts(warehouse: Warehouse, onlyOpen: boolean, limit = 100): Promise<z.infer<typeof listRow>[]> {
  return warehouse.query(sqlFile('alerts/list-alerts'), { only_open: onlyOpen, limit }, listRow);
}
