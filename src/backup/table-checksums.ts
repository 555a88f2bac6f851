/**
 * Row counts and checksums of every table of a database, as the manifest
 * records them: computed from a backup opened in place (take-backup.ts) and
 * again from the restored tables (restore-backup.ts), by the same queries.
 *
 * A table whose merges collapse rows (ReplacingMergeTree and kin) may hold
 * copies a merge has not collapsed yet; the backup copies its parts as they
 * are, and the restored engine may merge them at any moment, so a checksum of
 * the stored rows could change between loading and checking with nothing
 * wrong. Its checksum is over the rows as readers see them (FINAL), which no
 * merge changes. Merges of a plain MergeTree never change its rows: there,
 * every stored row counts.
 */
import { z } from 'zod';
import { sqlFile } from '../warehouse/sql-files.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import type { TableEntry } from './manifest.js';

/** Engines whose merges collapse or fold rows: FINAL reads them as merged. */
const MERGING_ENGINE = /^(Replacing|Collapsing|VersionedCollapsing|Summing|Aggregating|Coalescing|Graphite)MergeTree$/;
/** Engines with no rows of their own. */
const NO_ROWS = new Set(['View', 'MaterializedView', 'Dictionary', 'LiveView', 'WindowView']);

const tableRow = z.object({ name: z.string(), engine: z.string() });
const checksumRow = z.object({ rows: z.coerce.number().int(), checksum: z.string().regex(/^\d+$/), stored_rows: z.coerce.number().int() });
const schemaRow = z.object({ newest: z.coerce.number().int(), file: z.string(), migrations: z.coerce.number().int() });

export async function tableChecksums(warehouse: Warehouse, database: string): Promise<TableEntry[]> {
  const tables = await warehouse.query(sqlFile('backup/tables'), { database }, tableRow);
  const entries: TableEntry[] = [];
  for (const { name, engine } of tables) {
    if (NO_ROWS.has(engine)) {
      entries.push({ name, engine, rows: null, stored_rows: null, checksum: null, checksum_of: null });
      continue;
    }
    const final = MERGING_ENGINE.test(engine);
    const [row] = await warehouse.query(sqlFile(final ? 'backup/table-checksum-final' : 'backup/table-checksum'), { database, table: name }, checksumRow);
    if (!row) throw new Error(`no checksum row for ${database}.${name}`);
    entries.push({ name, engine, rows: row.rows, stored_rows: row.stored_rows, checksum: row.checksum, checksum_of: final ? 'final-rows' : 'stored-rows' });
  }
  return entries;
}

export interface SchemaVersion {
  version: number;
  migration: string;
}

/** The newest migration the database records; an Error when it records none (no inferledger schema). */
export async function schemaVersion(warehouse: Warehouse, database: string): Promise<SchemaVersion> {
  const [row] = await warehouse.query(sqlFile('backup/schema-version'), { database }, schemaRow);
  if (!row || row.migrations === 0) throw new Error(`database ${database} records no applied migration`);
  return { version: row.newest, migration: row.file };
}
