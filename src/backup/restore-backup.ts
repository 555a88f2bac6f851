/**
 * `inferledger restore DIR`: a backup loaded into an empty data directory.
 * The files are checked against the manifest first (sizes and SHA-256: a
 * damaged or edited backup is refused before anything is loaded), the
 * engine's RESTORE DATABASE loads it under the configured database's name,
 * then every table's rows and checksum are computed again and must equal the
 * manifest's. Nothing is migrated: the schema stays at the backup's version,
 * and later commands migrate it forward as usual. All or nothing: on any
 * failure the data directory is emptied again (it was empty before).
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Config } from '../config/config.js';
import { BACKUP_STAGING_DIR, openWarehouse, type Warehouse } from '../warehouse/warehouse.js';
import { BackupRefusedError, fileProblems, linkTree, someEntries } from './backup-files.js';
import { sqlWithIdentifiers } from './identifier-sql.js';
import { DATA_DIR, readManifest, type BackupManifest, type TableEntry } from './manifest.js';
import { ServerWarehouseError } from './take-backup.js';
import { schemaVersion, tableChecksums } from './table-checksums.js';

/** The restored tables differ from the manifest: the backup was changed, or the load lost something. */
export class RestoreMismatchError extends Error {
  override name = 'RestoreMismatchError';
}

export interface RestoreResult {
  manifest: BackupManifest;
  dataDir: string;
  database: string;
  /** The restored tables, as verified. */
  tables: TableEntry[];
}

/** What differs between the manifest's tables and schema and the restored ones. */
export function restoreProblems(manifest: BackupManifest, tables: readonly TableEntry[], schema: number): string[] {
  const problems: string[] = [];
  const restored = new Map(tables.map((t) => [t.name, t]));
  for (const expected of manifest.tables) {
    const actual = restored.get(expected.name);
    if (!actual) {
      problems.push(`${expected.name} is missing`);
      continue;
    }
    restored.delete(expected.name);
    if (actual.engine !== expected.engine) problems.push(`${expected.name} has engine ${actual.engine}, the manifest says ${expected.engine}`);
    if (actual.rows !== expected.rows) problems.push(`${expected.name} has ${actual.rows ?? 'no'} rows, the manifest says ${expected.rows ?? 'none'}`);
    if (actual.checksum !== expected.checksum) problems.push(`${expected.name} has checksum ${actual.checksum ?? 'none'}, the manifest says ${expected.checksum ?? 'none'}`);
  }
  for (const name of restored.keys()) problems.push(`${name} is not in the manifest`);
  if (schema !== manifest.schema_version) problems.push(`schema version ${schema}, the manifest says ${manifest.schema_version}`);
  return problems;
}

/** Remove everything in a directory that was empty (or absent) before: all of it is ours. */
function emptyAgain(dir: string, created: boolean): void {
  if (!existsSync(dir)) return;
  for (const name of readdirSync(dir)) rmSync(join(dir, name), { recursive: true, force: true });
  if (created) rmSync(dir, { recursive: true, force: true });
}

export async function restoreBackup(config: Config, dir: string, log: (line: string) => void = () => undefined): Promise<RestoreResult> {
  if (config.warehouse.url !== undefined) throw new ServerWarehouseError('the warehouse is a ClickHouse server: restore it with RESTORE DATABASE ... FROM S3(...) on the server (see docs/operations.md, Backup and restore)');
  const source = resolve(dir);
  const dataDir = resolve(config.warehouse.dataDir);
  const manifest = readManifest(source);
  if (existsSync(dataDir)) {
    if (!statSync(dataDir).isDirectory()) throw new BackupRefusedError(`the data directory ${dataDir} is a file: restore needs an empty or new directory`);
    if (readdirSync(dataDir).length > 0) {
      throw new BackupRefusedError(`the data directory ${dataDir} is not empty (it holds ${someEntries(dataDir)}): restore loads a backup only into an empty or new directory; set --data-dir (INFERLEDGER_DATA_DIR) to one, or move this one away`);
    }
  }
  const damaged = await fileProblems(source, DATA_DIR, manifest.files);
  if (damaged.length > 0) throw new RestoreMismatchError(`the backup ${source} is damaged or was changed, nothing was loaded: ${damaged.join('; ')}`);

  const created = !existsSync(dataDir);
  let warehouse: Warehouse | undefined;
  try {
    warehouse = await openWarehouse(config.warehouse);
    const database = warehouse.database;
    // The engine reads backups only under its staging directory: the files are linked (or copied) in, then let go.
    const staged = join(dataDir, BACKUP_STAGING_DIR, `restore-${randomUUID()}`);
    linkTree(join(source, DATA_DIR), staged);
    log(`restore: loading database ${manifest.database} of ${manifest.created_at} as ${database} into ${dataDir}`);
    try {
      await warehouse.command(sqlWithIdentifiers('backup/restore-database', { from: manifest.database, to: database }), { path: `${staged}/` });
    } finally {
      rmSync(staged, { recursive: true, force: true });
    }
    const tables = await tableChecksums(warehouse, database);
    const schema = await schemaVersion(warehouse, database);
    const problems = restoreProblems(manifest, tables, schema.version);
    if (problems.length > 0) throw new RestoreMismatchError(`the restored tables do not match the manifest of ${source}: ${problems.join('; ')}`);
    await warehouse.close();
    warehouse = undefined;
    return { manifest, dataDir, database, tables };
  } catch (err) {
    await warehouse?.close().catch(() => undefined);
    emptyAgain(dataDir, created);
    const message = `${(err as Error).message} (the data directory ${dataDir} was emptied again)`;
    throw err instanceof RestoreMismatchError ? new RestoreMismatchError(message, { cause: err }) : new Error(message, { cause: err });
  }
}
