/**
 * Numbered, immutable migrations from sql/migrations, applied in order and
 * recorded in schema_migrations. Every statement is written to be idempotent
 * (IF NOT EXISTS), so a second run, or two processes migrating one server at
 * once, converge on the same schema instead of failing half-way.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { SQL_DIR, splitStatements, sqlFile } from './sql-files.js';
import type { Warehouse } from './warehouse.js';

export interface Migration {
  version: number;
  name: string;
  checksum: string;
  statements: string[];
}

const FILE_NAME = /^(\d{4})_[a-z0-9_]+\.sql$/;

/** The migrations shipped in sql/migrations, ordered by version. */
export function listMigrations(dir = join(SQL_DIR, 'migrations')): Migration[] {
  const migrations = readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .map((name) => {
      const m = FILE_NAME.exec(name);
      if (!m) throw new Error(`migration file name must look like 0001_snake_case.sql: ${name}`);
      const text = readFileSync(join(dir, name), 'utf8');
      return {
        version: Number(m[1]),
        name,
        checksum: createHash('sha256').update(text).digest('hex'),
        statements: splitStatements(text),
      };
    })
    .sort((a, b) => a.version - b.version);
  migrations.forEach((m, i) => {
    if (i > 0 && migrations[i - 1]?.version === m.version) throw new Error(`two migrations numbered ${m.version}`);
  });
  return migrations;
}

const appliedRow = z.object({ version: z.coerce.number().int(), name: z.string(), checksum: z.string() });

export interface MigrateResult {
  applied: string[];
  alreadyApplied: string[];
}

export interface MigrateOptions {
  /** Apply only the migrations numbered up to this version (an earlier schema: upgrade tests). */
  upTo?: number;
}

export async function migrate(warehouse: Warehouse, migrations = listMigrations(), options: MigrateOptions = {}): Promise<MigrateResult> {
  const upTo = options.upTo;
  for (const statement of splitStatements(sqlFile('schema-migrations'))) await warehouse.command(statement);
  const done = new Map(
    (await warehouse.query('SELECT version, name, checksum FROM schema_migrations FINAL', {}, appliedRow)).map((r) => [r.version, r]),
  );
  const result: MigrateResult = { applied: [], alreadyApplied: [] };
  for (const migration of migrations) {
    if (upTo !== undefined && migration.version > upTo) continue;
    const previous = done.get(migration.version);
    if (previous) {
      if (previous.checksum !== migration.checksum) {
        throw new Error(
          `migration ${migration.name} was changed after it was applied (as ${previous.name}); ` +
            'applied migrations are immutable: add a new numbered file instead',
        );
      }
      result.alreadyApplied.push(migration.name);
      continue;
    }
    for (const statement of migration.statements) await warehouse.command(statement);
    await warehouse.insertObjects('schema_migrations', [
      { version: migration.version, name: migration.name, checksum: migration.checksum, applied_at: new Date().toISOString() },
    ]);
    result.applied.push(migration.name);
  }
  return result;
}
