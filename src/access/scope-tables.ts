/**
 * The warehouse's tables as scopes see them (which carry `team`, which
 * `tenant_id`), read from the engine's catalogue and kept for a short while:
 * a migration that adds a table is seen within that time, and a burst of
 * queries costs one catalogue read.
 */
import { z } from 'zod';
import { sqlFile } from '../warehouse/sql-files.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { scopeRules, type Scope, type ScopedTable, type ScopeRules } from './scope.js';

const tableRow = z.object({ table: z.string(), has_team: z.coerce.boolean(), has_tenant: z.coerce.boolean() });

const FRESH_MS = 30_000;

export interface ScopeCatalogue {
  /** The rules of a scope over the tables as they are now (at most FRESH_MS old). */
  rulesFor(scope: Scope): Promise<ScopeRules>;
}

export async function readScopedTables(warehouse: Warehouse): Promise<ScopedTable[]> {
  const rows = await warehouse.query(sqlFile('access/table-columns'), { database: warehouse.database }, tableRow);
  return rows.map((r) => ({ table: r.table, hasTeam: r.has_team, hasTenant: r.has_tenant }));
}

export function scopeCatalogue(warehouse: Warehouse, sharedTables: readonly string[], now: () => number = Date.now): ScopeCatalogue {
  let cached: { at: number; tables: Promise<ScopedTable[]> } | undefined;
  const tables = (): Promise<ScopedTable[]> => {
    if (!cached || now() - cached.at > FRESH_MS) {
      const read = readScopedTables(warehouse);
      cached = { at: now(), tables: read };
      // A failed read is not kept: the next query tries again.
      read.catch(() => { if (cached?.tables === read) cached = undefined; });
    }
    return cached.tables;
  };
  return {
    rulesFor: async (scope) => scope === 'all' ? scopeRules(scope, warehouse.database, [], sharedTables) : scopeRules(scope, warehouse.database, await tables(), sharedTables),
  };
}
