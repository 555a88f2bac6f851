/**
 * What a backup holds, read from the backup itself, never from the live
 * tables (which go on changing): every table's rows and checksum, every
 * view, and the schema version. The backup is opened in place, read-only,
 * as a database of the engine's Backup engine; that shows the tables of the
 * MergeTree family only, so any other table (attribution's Memory scratch
 * tables, caught mid-run) is copied out of the backup into a scratch
 * database and counted there. Views come from the backup's metadata files.
 */
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { sqlFile } from '../warehouse/sql-files.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { sqlWithIdentifiers } from './identifier-sql.js';
import type { TableEntry } from './manifest.js';
import { schemaVersion, tableChecksums, type SchemaVersion } from './table-checksums.js';

/** Engines of the objects with no data of their own, as system.tables names them, by the statement that makes them. */
const VIEW_KINDS: readonly (readonly [RegExp, string])[] = [
  [/^(CREATE|ATTACH) VIEW\b/, 'View'],
  [/^(CREATE|ATTACH) MATERIALIZED VIEW\b/, 'MaterializedView'],
  [/^(CREATE|ATTACH) DICTIONARY\b/, 'Dictionary'],
];

/** Our databases: `inferledger_backup_` and 32 hex digits. */
const SCRATCH = /^inferledger_backup_[0-9a-f]{32}$/;
const scratchName = (): string => `inferledger_backup_${randomUUID().replaceAll('-', '')}`;
const nameRow = z.object({ name: z.string() });

interface BackedUp {
  name: string;
  /** The engine of a view; undefined for a table. */
  view: string | undefined;
}

/** Every table and view in a backup's metadata of `database`. */
function objectsInBackup(backup: string, database: string): BackedUp[] {
  const dir = join(backup, 'metadata', database);
  return readdirSync(dir).filter((f) => f.endsWith('.sql')).sort().map((file) => {
    const head = readFileSync(join(dir, file), 'utf8').trimStart().slice(0, 64);
    // File names escape special characters as %XX, as the engine writes them.
    return { name: decodeURIComponent(file.slice(0, -'.sql'.length)), view: VIEW_KINDS.find(([pattern]) => pattern.test(head))?.[1] };
  });
}

/** Drop databases of ours a killed backup left behind (a backup opened in place keeps no file of its own). */
export async function dropScratchDatabases(warehouse: Warehouse): Promise<void> {
  for (const { name } of await warehouse.query(sqlFile('backup/scratch-databases'), {}, nameRow)) {
    if (SCRATCH.test(name)) await warehouse.command(sqlFile('backup/drop-database'), { name });
  }
}

export interface BackupContents {
  tables: TableEntry[];
  schema: SchemaVersion;
}

/** The contents of the backup of `database` at `backup` (a directory the engine may read backups from). */
export async function backupContents(warehouse: Warehouse, backup: string, database: string): Promise<BackupContents> {
  const objects = objectsInBackup(backup, database);
  const path = `${backup}/`;
  const opened = scratchName();
  const scratch = scratchName();
  let scratchMade = false;
  await warehouse.command(sqlFile('backup/open-backup'), { view: opened, database, path });
  try {
    const shown = await tableChecksums(warehouse, opened);
    const shownNames = new Set(shown.map((t) => t.name));
    const hidden = objects.filter((o) => o.view === undefined && !shownNames.has(o.name));
    let copied: TableEntry[] = [];
    if (hidden.length > 0) {
      await warehouse.command(sqlFile('backup/create-scratch'), { scratch });
      scratchMade = true;
      for (const { name } of hidden) await warehouse.command(sqlWithIdentifiers('backup/restore-table', { database, table: name, scratch }), { path });
      copied = await tableChecksums(warehouse, scratch);
    }
    const views: TableEntry[] = objects.flatMap((o) => (o.view === undefined ? [] : [{ name: o.name, engine: o.view, rows: null, stored_rows: null, checksum: null, checksum_of: null }]));
    const tables = [...shown, ...copied, ...views].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const counted = new Set(tables.map((t) => t.name));
    const missing = objects.filter((o) => !counted.has(o.name)).map((o) => o.name);
    if (missing.length > 0) throw new Error(`the backup holds tables that could not be read back: ${missing.join(', ')}`);
    return { tables, schema: await schemaVersion(warehouse, opened) };
  } finally {
    await warehouse.command(sqlFile('backup/drop-database'), { name: opened });
    if (scratchMade) await warehouse.command(sqlFile('backup/drop-database'), { name: scratch });
  }
}
