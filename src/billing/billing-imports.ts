/**
 * All-or-nothing billing imports. An import writes its line items under a new
 * billing_version (invisible: no scope names it yet), then records every
 * restatement scope it covers in billing_scopes in one insert. Only then do
 * billing_current and attribution see it, all of it at once; a killed or
 * failed import leaves line items nobody reads.
 */
import { z } from 'zod';
import { formatScaled, toScaled } from '../util/decimal.js';
import { sqlFile } from '../warehouse/sql-files.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { scopeStartOf, type BillingRow, type ScopeKind } from './billing-row.js';
import { DAY_MS, HOUR_MS } from '../util/time.js';

const msOf = (dateTime: string): number => Date.parse(`${dateTime.replace(' ', 'T')}Z`);
const dateTimeOf = (ms: number): string => new Date(ms).toISOString().slice(0, 19).replace('T', ' ');

interface Tally {
  account: string;
  scopeStart: string;
  scopeEnd: string;
  rows: number;
  effective: Map<string, bigint>;
  billed: Map<string, bigint>;
  recordDays: Set<string>;
}

/** The scopes of one import, with what each holds, tallied as its rows are written. */
export class ImportScopes {
  private readonly tallies = new Map<string, Tally>();

  constructor(
    readonly source: string,
    readonly kind: ScopeKind,
  ) {}

  /** Count a row written under the import's version. */
  add(row: BillingRow): void {
    const scopeStart = scopeStartOf(row, this.kind);
    const scopeEnd = this.kind === 'day' ? dateTimeOf(msOf(scopeStart) + DAY_MS) : row.billing_period_end;
    const tally = this.tally(row.billing_account_id, scopeStart, scopeEnd);
    tally.rows++;
    tally.effective.set(row.billing_currency, (tally.effective.get(row.billing_currency) ?? 0n) + toScaled(row.effective_cost));
    tally.billed.set(row.billing_currency, (tally.billed.get(row.billing_currency) ?? 0n) + toScaled(row.billed_cost));
    // A day an export holds usage for is a day it is the record of (monthly fees and corrections claim none).
    const hours = (msOf(row.charge_period_end) - msOf(row.charge_period_start)) / HOUR_MS;
    if (this.kind === 'billing-period' && row.charge_class !== 'Correction' && hours <= 24) tally.recordDays.add(row.charge_period_start.slice(0, 10));
  }

  /** Count rows written under the import's version that the engine summed itself (one scope and currency). */
  addTotals(t: { account: string; scopeStart: string; scopeEnd: string; currency: string; rows: number; billed: string; effective: string; recordDays: readonly string[] }): void {
    const tally = this.tally(t.account, t.scopeStart, t.scopeEnd);
    tally.rows += t.rows;
    tally.effective.set(t.currency, (tally.effective.get(t.currency) ?? 0n) + toScaled(t.effective));
    tally.billed.set(t.currency, (tally.billed.get(t.currency) ?? 0n) + toScaled(t.billed));
    if (this.kind === 'billing-period') t.recordDays.forEach((d) => tally.recordDays.add(d));
  }

  /** A scope the import restates to nothing (e.g. a Cost Explorer day with no cost, an account dropped from configuration). */
  addEmpty(account: string, scopeStart: string, scopeEnd: string): void {
    this.tally(account, scopeStart, scopeEnd);
  }

  has(account: string, scopeStart: string): boolean {
    return this.tallies.has(`${account}\u0000${scopeStart}`);
  }

  get size(): number {
    return this.tallies.size;
  }

  get accounts(): string[] {
    return [...new Set([...this.tallies.values()].map((t) => t.account))];
  }

  /** Scopes as [account, start, end]. */
  list(): [string, string, string][] {
    return [...this.tallies.values()].map((t) => [t.account, t.scopeStart, t.scopeEnd]);
  }

  rowsFor(version: string, importId: string, completedAt: string): Record<string, unknown>[] {
    const money = (m: Map<string, bigint>): Record<string, string> => Object.fromEntries([...m].map(([c, v]) => [c, formatScaled(v)]));
    return [...this.tallies.values()].map((t) => ({
      source: this.source,
      billing_account_id: t.account,
      scope_start: t.scopeStart,
      scope_end: t.scopeEnd,
      billing_version: version,
      import_id: importId,
      rows: t.rows,
      effective_cost: money(t.effective),
      billed_cost: money(t.billed),
      record_days: [...t.recordDays].sort(),
      completed_at: completedAt,
    }));
  }

  private tally(account: string, scopeStart: string, scopeEnd: string): Tally {
    const key = `${account}\u0000${scopeStart}`;
    let tally = this.tallies.get(key);
    if (!tally) {
      tally = { account, scopeStart, scopeEnd, rows: 0, effective: new Map(), billed: new Map(), recordDays: new Set() };
      this.tallies.set(key, tally);
    } else if (scopeEnd > tally.scopeEnd) {
      tally.scopeEnd = scopeEnd;
    }
    return tally;
  }
}

const scopeRow = z.object({ account: z.string(), start: z.string(), end: z.string(), rows: z.coerce.number() });
export type CurrentScope = z.infer<typeof scopeRow>;

/** Current (newest recorded) scopes of a source starting in [from, to). */
export async function currentScopes(warehouse: Warehouse, source: string, from: string, to: string): Promise<CurrentScope[]> {
  return warehouse.query(sqlFile('queries/current-billing-scopes'), { source, from, to }, scopeRow);
}

/**
 * Record an import complete: one insert of all its scopes. Older, finer
 * scopes of the same source and account inside one of its scopes (days
 * recorded before scopes were billing periods) are restated to nothing by the
 * same insert, so they cannot add to it.
 */
export async function recordImport(warehouse: Warehouse, scopes: ImportScopes, version: string, importId: string): Promise<void> {
  if (scopes.size === 0) return;
  if (scopes.kind === 'billing-period') {
    const list = scopes.list();
    const from = list.reduce((m, [, s]) => (s < m ? s : m), list[0]?.[1] ?? '');
    const to = list.reduce((m, [, , e]) => (e > m ? e : m), '');
    for (const existing of await currentScopes(warehouse, scopes.source, from, to)) {
      if (existing.rows === 0 || scopes.has(existing.account, existing.start)) continue;
      const inside = list.some(([account, s, e]) => account === existing.account && s <= existing.start && existing.start < e);
      if (inside) scopes.addEmpty(existing.account, existing.start, existing.end);
    }
  }
  await warehouse.insertObjects('billing_scopes', scopes.rowsFor(version, importId, new Date().toISOString()));
}
