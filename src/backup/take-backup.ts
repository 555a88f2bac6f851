/**
 * A backup of the embedded warehouse: every table and view of its database,
 * schema_migrations included, copied by the engine's own BACKUP DATABASE
 * into a directory under the data directory (the only place the engine may
 * write backups), then moved to the chosen directory as `data/`, with
 * `manifest.json` written last.
 *
 * Consistency: BACKUP takes each table's data parts as they are at one
 * instant, all tables in one pass; an insert is in it whole or not at all,
 * inserts and merges go on meanwhile. The manifest's row counts and
 * checksums are computed from the backup itself (backup-contents.ts), never
 * from the live tables, so they describe exactly what was copied, however
 * much was written during it.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { PACKAGE_ROOT, sqlFile } from '../warehouse/sql-files.js';
import { BACKUP_STAGING_DIR, type Warehouse } from '../warehouse/warehouse.js';
import { backupContents, dropScratchDatabases } from './backup-contents.js';
import { BackupRefusedError, checkBackupTarget, describeFiles, moveTree } from './backup-files.js';
import { sqlWithIdentifiers } from './identifier-sql.js';
import { CHECKSUM_RULE, DATA_DIR, MANIFEST_FORMAT, writeManifest, type BackupManifest } from './manifest.js';

/** A backup is being taken already in this process (one at a time: they share the engine's staging directory). */
export class BackupBusyError extends Error {
  override name = 'BackupBusyError';
}

/** The warehouse is a ClickHouse server: it backs itself up (server-backups.ts says how). */
export class ServerWarehouseError extends Error {
  override name = 'ServerWarehouseError';
}

export const BACKUP_METHOD = 'ClickHouse BACKUP DATABASE ... TO File(...), in data/ (RESTORE DATABASE reads it)';

const versionRow = z.object({ version: z.string() });
const tableRow = z.object({ name: z.string(), engine: z.string() });

let running: string | undefined;

export function inferledgerVersion(): string {
  const pkg = z.object({ version: z.string() }).safeParse(JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')));
  return pkg.success ? pkg.data.version : 'unknown';
}

/** The embedded data directory of a warehouse; a server has none. */
export function embeddedDataDir(warehouse: Warehouse): string {
  if (warehouse.backend !== 'chdb' || warehouse.dataDir === undefined) {
    throw new ServerWarehouseError('the warehouse is a ClickHouse server: back it up with BACKUP DATABASE ... TO S3(...) on the server (see docs/operations.md, Backup and restore)');
  }
  return warehouse.dataDir;
}

export interface BackupOptions {
  log?: (line: string) => void;
}

/** Take a backup of the warehouse's database into `dir` (new or empty); resolves to its manifest. */
export async function takeBackup(warehouse: Warehouse, dir: string, options: BackupOptions = {}): Promise<BackupManifest> {
  const dataDir = embeddedDataDir(warehouse);
  const target = resolve(dir);
  checkBackupTarget(target, dataDir);
  if (running !== undefined) throw new BackupBusyError(`a backup is being taken already (into ${running}): try again when it is done`);
  running = target;
  const database = warehouse.database;
  const staging = join(dataDir, BACKUP_STAGING_DIR);
  const staged = join(staging, `backup-${randomUUID()}`);
  const createdTarget = !existsSync(target);
  try {
    const live = await warehouse.query(sqlFile('backup/tables'), { database }, tableRow);
    if (!live.some((t) => t.name === 'schema_migrations')) {
      throw new BackupRefusedError(`database ${database} holds no inferledger schema (no schema_migrations): nothing to back up`);
    }
    // Left by a backup or restore whose process was killed: nothing else uses the staging directory while this runs.
    if (existsSync(staging)) for (const name of readdirSync(staging)) rmSync(join(staging, name), { recursive: true, force: true });
    await dropScratchDatabases(warehouse);
    const createdAt = new Date().toISOString();
    options.log?.(`backup: copying database ${database} (${live.length} tables and views) into ${target}`);
    await warehouse.command(sqlWithIdentifiers('backup/backup-database', { database }), { path: `${staged}/` });
    const { tables, schema } = await backupContents(warehouse, staged, database);
    const [engine] = await warehouse.query(sqlFile('backup/engine-version'), {}, versionRow);
    mkdirSync(target, { recursive: true });
    moveTree(staged, join(target, DATA_DIR));
    const manifest: BackupManifest = {
      format: MANIFEST_FORMAT,
      inferledger_version: inferledgerVersion(),
      engine_version: engine?.version ?? 'unknown',
      database,
      schema_version: schema.version,
      schema_migration: schema.migration,
      created_at: createdAt,
      method: BACKUP_METHOD,
      checksum: CHECKSUM_RULE,
      tables,
      files: await describeFiles(target, DATA_DIR),
    };
    writeManifest(target, manifest);
    options.log?.(`backup: ${target} written (${tables.length} tables and views, schema version ${schema.version})`);
    return manifest;
  } catch (err) {
    rmSync(staged, { recursive: true, force: true });
    // The target was new or empty: whatever is in it now is this backup's, unfinished.
    if (existsSync(target)) {
      for (const name of readdirSync(target)) rmSync(join(target, name), { recursive: true, force: true });
      if (createdTarget) rmSync(target, { recursive: true, force: true });
    }
    throw err;
  } finally {
    running = undefined;
  }
}
