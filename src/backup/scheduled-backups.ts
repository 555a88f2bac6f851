/**
 * Scheduled backups (the `backup` job of `inferledger run`): one directory
 * per backup, `<backup.dir>/<timestamp>/` (e.g. 2026-12-07T030000Z), the
 * newest `backup.keep` kept. Like every job, it works out from what is there
 * whether it owes anything: a backup is due when `backup.schedule` has come
 * round since the newest complete backup (or there is none), so a service
 * that was down at the scheduled time takes it when it comes back.
 */
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { getNextMillis } from 'bullmq';
import type { Config } from '../config/config.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { MANIFEST_FILE } from './manifest.js';
import { BackupBusyError, takeBackup } from './take-backup.js';

const STAMP = /^(\d{4})-(\d{2})-(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;

/** The directory name of a backup taken at `ms`: sortable, and free of characters some file systems refuse. */
export function backupStamp(ms: number): string {
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, 10)}T${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
}

export interface StoredBackup {
  name: string;
  path: string;
  /** The instant its name stands for (ms). */
  at: number;
  /** It has its manifest: it finished. */
  complete: boolean;
}

/** The scheduled backups in a directory, oldest first; other entries are not ours and are left alone. */
export function listScheduledBackups(root: string): StoredBackup[] {
  if (!existsSync(root)) return [];
  const out: StoredBackup[] = [];
  for (const entry of readdirSync(root, { withFileTypes: true })) {
    const m = STAMP.exec(entry.name);
    if (!m || !entry.isDirectory()) continue;
    const [, y, mo, d, h, mi, s] = m.map(Number) as [number, number, number, number, number, number, number];
    const path = join(root, entry.name);
    out.push({ name: entry.name, path, at: Date.UTC(y, mo - 1, d, h, mi, s), complete: existsSync(join(path, MANIFEST_FILE)) });
  }
  return out.sort((a, b) => a.at - b.at);
}

/** Whether `schedule` (cron, UTC) comes round after `last` and by `now`. */
export function backupDue(schedule: string, last: number | undefined, now: number): boolean {
  if (last === undefined) return true;
  const next = getNextMillis(last, { pattern: schedule, tz: 'UTC' });
  return next !== undefined && next <= now;
}

/** Delete all but the newest `keep` complete backups, and unfinished ones older than the newest complete one. */
export function pruneBackups(root: string, keep: number): string[] {
  const all = listScheduledBackups(root);
  const complete = all.filter((b) => b.complete);
  const newest = complete.at(-1);
  const doomed = [
    ...complete.slice(0, Math.max(0, complete.length - keep)),
    ...all.filter((b) => !b.complete && newest !== undefined && b.at < newest.at),
  ];
  for (const b of doomed) rmSync(b.path, { recursive: true, force: true });
  return doomed.map((b) => b.name).sort();
}

export interface ScheduledOutcome {
  /** The backup taken, if one was due. */
  taken?: string;
  pruned: string[];
  note: string;
}

export async function runScheduledBackup(warehouse: Warehouse, settings: Config['backup'], now: number, log: (line: string) => void): Promise<ScheduledOutcome> {
  if (settings.dir === undefined) return { pruned: [], note: 'backup.dir is not set: no scheduled backups' };
  if (warehouse.backend !== 'chdb') return { pruned: [], note: 'a ClickHouse server backs itself up (BACKUP DATABASE ... TO S3): no scheduled backups here' };
  const root = resolve(settings.dir);
  mkdirSync(root, { recursive: true });
  const last = listScheduledBackups(root).filter((b) => b.complete).at(-1);
  if (!backupDue(settings.schedule, last?.at, now)) return { pruned: [], note: `not due: the newest backup is ${last?.name ?? 'none'} (schedule ${settings.schedule} UTC)` };
  const name = backupStamp(now);
  const path = join(root, name);
  // An unfinished backup of the same second (its process was killed): ours, by its name and its missing manifest.
  if (existsSync(path) && !existsSync(join(path, MANIFEST_FILE))) rmSync(path, { recursive: true, force: true });
  try {
    await takeBackup(warehouse, path, { log });
  } catch (err) {
    if (err instanceof BackupBusyError) return { pruned: [], note: `not taken: ${err.message}` };
    throw err;
  }
  const pruned = pruneBackups(root, settings.keep);
  if (pruned.length > 0) log(`backup: deleted ${pruned.length} older backup(s) of ${root}, keeping ${settings.keep}: ${pruned.join(', ')}`);
  return { taken: name, pruned, note: `backup ${path} taken${pruned.length > 0 ? `; deleted ${pruned.join(', ')}` : ''}` };
}
