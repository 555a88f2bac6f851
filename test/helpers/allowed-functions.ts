/**
 * The generated list of functions analysts may call
 * (src/warehouse/analyst-functions.generated.ts), computed from the engine by
 * the rule in analyst-allow-lists.ts. `UPDATE_GENERATED=1 npx vitest run
 * test/analyst-allow-lists.test.ts` writes it after an engine upgrade; read
 * the diff before committing it.
 */
import { z } from 'zod';
import { REFUSED_FUNCTION_CATEGORIES, REFUSED_FUNCTIONS } from '../../src/warehouse/analyst-allow-lists.js';
import { sqlFile } from '../../src/warehouse/sql-files.js';
import type { Warehouse } from '../../src/warehouse/warehouse.js';

export const GENERATED_FUNCTIONS_PATH = 'src/warehouse/analyst-functions.generated.ts';

export async function renderAllowedFunctions(warehouse: Warehouse): Promise<string> {
  const rows = await warehouse.query(
    sqlFile('queries/analyst-functions'),
    { categories: [...REFUSED_FUNCTION_CATEGORIES], names: [...REFUSED_FUNCTIONS] },
    z.object({ name: z.string(), case_insensitive: z.coerce.number() }),
  );
  const list = (names: string[]): string => names.map((n) => `  ${JSON.stringify(n)},`).join('\n');
  const [version] = await warehouse.query('SELECT version() AS v', {}, z.object({ v: z.string() }));
  return [
    '// Generated from the engine\'s system.functions by the rule in analyst-allow-lists.ts',
    `// (ClickHouse ${version?.v ?? 'unknown'}); test/analyst-allow-lists.test.ts checks it. Do not edit by hand.`,
    '',
    'export const ALLOWED_FUNCTIONS: readonly string[] = [',
    list(rows.map((r) => r.name)),
    '];',
    '',
    '/** The allowed functions the engine also knows in any letter case (`COUNT`, `Sum`). */',
    'export const CASE_INSENSITIVE_FUNCTIONS: readonly string[] = [',
    list(rows.filter((r) => r.case_insensitive === 1).map((r) => r.name)),
    '];',
    '',
  ].join('\n');
}
