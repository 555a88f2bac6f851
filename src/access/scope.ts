/**
 * What a user's scope means for each table of the warehouse. A scoped user
 * (some teams, or some tenants) reads a table or view that carries the scope's
 * column (`team`, or `tenant_id`) through a filter the engine applies to every
 * read of it (`additional_table_filters`), wherever the table appears: views,
 * subqueries, CTEs, UNION and JOIN included. Tables without that column hold
 * everyone's numbers (pool cost, billing, coverage): they are refused to a
 * scoped user, by name before the query runs and by an always-false filter
 * inside views, unless `access.sharedTables` lists them.
 *
 * The filter is the engine's, set by the service on the query's session; it
 * is never written into the analyst's query, and no analyst can set or lift
 * it (the read-only rules refuse the setting).
 */
import type { Config } from '../config/config.js';

export type Scope = Config['access']['users'][number]['scope'];

/** A table of the warehouse's database and the scope columns it carries. */
export interface ScopedTable {
  table: string;
  hasTeam: boolean;
  hasTenant: boolean;
}

export interface ScopeRules {
  /** `database.table` -> the filter expression the engine applies to every read of it. */
  filters: Readonly<Record<string, string>>;
  /** Tables refused to this scope by name (their reads inside views see no rows). */
  refused: ReadonlySet<string>;
}

/** A string literal of ClickHouse SQL: quotes and backslashes escaped, nothing can leave it. */
export function sqlString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** `all`, `teams: a, b` or `tenants: x`: how a scope is printed in logs and the audit. */
export function scopeText(scope: Scope): string {
  if (scope === 'all') return 'all';
  return 'teams' in scope ? `teams: ${scope.teams.join(', ')}` : `tenants: ${scope.tenants.join(', ')}`;
}

/** The column a scope filters on and the values it allows; undefined for `all`. */
export function scopeColumn(scope: Scope): { column: 'team' | 'tenant_id'; values: readonly string[] } | undefined {
  if (scope === 'all') return undefined;
  return 'teams' in scope ? { column: 'team', values: scope.teams } : { column: 'tenant_id', values: scope.tenants };
}

/** The filter expression of a scope on a table that carries its column, e.g. `team IN ('search', 'ads')`. */
export function scopeFilter(scope: Exclude<Scope, 'all'>): string {
  const { column, values } = scopeColumn(scope) as { column: string; values: readonly string[] };
  return `${column} IN (${values.map(sqlString).join(', ')})`;
}

/**
 * The filters and refusals of a scope over the warehouse's tables. `all`
 * filters nothing and refuses nothing.
 */
export function scopeRules(scope: Scope, database: string, tables: readonly ScopedTable[], sharedTables: readonly string[]): ScopeRules {
  if (scope === 'all') return { filters: {}, refused: new Set() };
  const shared = new Set(sharedTables);
  const filter = scopeFilter(scope);
  const filters: Record<string, string> = {};
  const refused = new Set<string>();
  for (const t of tables) {
    const carries = 'teams' in scope ? t.hasTeam : t.hasTenant;
    if (carries) filters[`${database}.${t.table}`] = filter;
    else if (!shared.has(t.table)) {
      filters[`${database}.${t.table}`] = '0';
      refused.add(t.table);
    }
  }
  return { filters, refused };
}

/**
 * The filters as the value of the engine's `additional_table_filters`
 * setting: a map literal, `{'db.t': 'team IN (''a'')'}`.
 */
export function tableFiltersSetting(filters: Readonly<Record<string, string>>): string {
  return `{${Object.entries(filters).map(([table, expression]) => `${sqlString(table)}: ${sqlString(expression)}`).join(', ')}}`;
}
