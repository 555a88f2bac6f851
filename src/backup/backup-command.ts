/**
 * `inferledger backup DIR` and `restore DIR` as the CLI runs them. On a
 * ClickHouse server they print the server's own route (BACKUP ... TO S3).
 * A backup of a data directory held by a running `inferledger run` is taken
 * by that service, asked over its admin route (it alone may open the
 * directory); otherwise the warehouse is opened here. Also the summaries
 * the CLI prints.
 */
import { resolve } from 'node:path';
import type { Config } from '../config/config.js';
import { ADMIN_TOKEN_FILE, readAdminToken, requestServiceBackup } from '../service/admin-route.js';
import { serviceUrl } from '../service/query-client.js';
import { runningService, withWarehouse } from '../service/warehouse-access.js';
import { checkBackupTarget } from './backup-files.js';
import { manifestSchema, MANIFEST_FILE, type BackupManifest } from './manifest.js';
import { restoreBackup, type RestoreResult } from './restore-backup.js';
import { serverBackupRoute } from './server-backups.js';
import { takeBackup } from './take-backup.js';

export type CommandOutcome<T> = { kind: 'server'; lines: string[] } | ({ kind: 'done' } & T);

export interface BackupDone {
  manifest: BackupManifest;
  dir: string;
  /** Who took it: this process, or the running service (its pid). */
  servicePid: number | undefined;
}

export async function backupCommand(config: Config, dir: string, log: (line: string) => void): Promise<CommandOutcome<BackupDone>> {
  if (config.warehouse.url !== undefined) return { kind: 'server', lines: serverBackupRoute(config.warehouse.database, 'backup') };
  const target = resolve(dir);
  const dataDir = resolve(config.warehouse.dataDir);
  checkBackupTarget(target, dataDir);
  const service = runningService(config);
  if (service) {
    const base = serviceUrl(service);
    const token = readAdminToken(dataDir, service.pid);
    const held = `the data directory ${dataDir} is held by a running \`inferledger run\` (pid ${service.pid})`;
    if (base === undefined) {
      throw new Error(`${held} whose query endpoint, which takes admin requests too, is off (service.queryPort): turn it on, schedule backups in the service (backup.dir), or stop the service first`);
    }
    if (token === undefined) {
      throw new Error(`${held}, and its admin token (${ADMIN_TOKEN_FILE} in the data directory) cannot be read: run the backup as the service's user`);
    }
    log(`the data directory is held by the running service (pid ${service.pid}): it takes the backup`);
    const manifest = manifestSchema.parse(await requestServiceBackup(base, token, target));
    return { kind: 'done', manifest, dir: target, servicePid: service.pid };
  }
  const manifest = await withWarehouse(config, (warehouse) => takeBackup(warehouse, target));
  return { kind: 'done', manifest, dir: target, servicePid: undefined };
}

export async function restoreCommand(config: Config, dir: string, log: (line: string) => void): Promise<CommandOutcome<RestoreResult>> {
  if (config.warehouse.url !== undefined) return { kind: 'server', lines: serverBackupRoute(config.warehouse.database, 'restore') };
  return { kind: 'done', ...(await restoreBackup(config, dir, log)) };
}

function totals(tables: BackupManifest['tables']): string {
  const views = tables.filter((t) => t.rows === null).length;
  const rows = tables.reduce((sum, t) => sum + (t.rows ?? 0), 0);
  return `${tables.length - views} tables and ${views} views, ${rows} rows`;
}

export function backupSummary(done: BackupDone): string[] {
  const { manifest, dir } = done;
  return [
    `backup of database ${manifest.database} (schema version ${manifest.schema_version}, ${manifest.schema_migration}) written to ${dir}${done.servicePid === undefined ? '' : ` by the running service (pid ${done.servicePid})`}`,
    `  ${totals(manifest.tables)}, ${manifest.files.length} files; row counts and checksums in ${resolve(dir, MANIFEST_FILE)}`,
    ...manifest.tables.map((t) => `  ${t.name} (${t.engine}): ${t.rows === null ? 'view' : `${t.rows} rows${t.checksum_of === 'final-rows' ? ' as read with FINAL' : ''}, checksum ${t.checksum ?? ''}`}`),
  ];
}

export function restoreSummary(result: RestoreResult): string[] {
  const { manifest } = result;
  return [
    `restored database ${manifest.database} of ${manifest.created_at} into database ${result.database} of ${result.dataDir}`,
    `  verified: ${totals(result.tables)}, every row count and checksum as the manifest says`,
    `  schema version ${manifest.schema_version} (${manifest.schema_migration}), as backed up: the next command that writes applies newer migrations`,
  ];
}
