/**
 * SQL lives in files under sql/: loaded by name, cached, and checked against
 * the parameters a caller binds, so a missing or misspelt parameter fails
 * before it reaches the engine.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The package root: the nearest directory above this module holding
 * package.json, whether it runs from src/warehouse (sources) or
 * dist/src/warehouse (the build).
 */
function packageRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (let dir = here; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) return join(here, '..', '..');
  }
}
export const PACKAGE_ROOT = packageRoot();
export const SQL_DIR = join(PACKAGE_ROOT, 'sql');

const cache = new Map<string, string>();

/** The text of `sql/<name>.sql`, e.g. `sqlFile('queries/existing-request-ids')`. */
export function sqlFile(name: string): string {
  let text = cache.get(name);
  if (text === undefined) {
    text = readFileSync(join(SQL_DIR, `${name}.sql`), 'utf8');
    cache.set(name, text);
  }
  return text;
}

/**
 * Blank out string literals and `--` comments in one left-to-right pass (so an
 * apostrophe in a comment or `--` in a string is read right), leaving only code.
 */
function codeOnly(sql: string): string {
  return sql.replace(/'(?:[^'\\]|\\.|'')*'|--[^\n]*/g, (m) => (m.startsWith('--') ? '' : "''"));
}

/** Names of the `{name:Type}` placeholders a statement uses. */
export function placeholders(sql: string): Set<string> {
  const names = new Set<string>();
  for (const m of codeOnly(sql).matchAll(/\{([A-Za-z_][A-Za-z0-9_]*):/g)) names.add(m[1] as string);
  return names;
}

/** Throw unless the bound parameters are exactly the statement's placeholders. */
export function checkParams(sql: string, params: Record<string, unknown>): void {
  const wanted = placeholders(sql);
  const missing = [...wanted].filter((n) => !(n in params));
  const extra = Object.keys(params).filter((n) => !wanted.has(n));
  if (missing.length > 0 || extra.length > 0) {
    const head = sql.trim().split('\n').find((l) => !l.startsWith('--')) ?? '';
    throw new Error(
      `SQL parameters do not match (${head.slice(0, 60)}...): ` +
        [missing.length ? `missing ${missing.join(', ')}` : '', extra.length ? `unexpected ${extra.join(', ')}` : '']
          .filter(Boolean)
          .join('; '),
    );
  }
}

/**
 * Split a file into statements. Convention for files under sql/: statements
 * end with `;` at the end of a line; a `;` elsewhere stays inside its statement.
 */
export function splitStatements(sql: string): string[] {
  return sql
    .split(/;[ \t]*(?:\r?\n|$)/)
    .map((s) => s.trim())
    .filter((s) => codeOnly(s).trim().length > 0);
}
