/**
 * The manifest of a backup: `manifest.json` beside the engine's own backup
 * (in `data/`), written last, so a directory without one is not a backup.
 * It says what was copied (inferledger and engine versions, the database,
 * its schema version, when) and how to tell the copy is whole: each table's
 * engine, rows and checksum, and every file with its size and SHA-256.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

export const MANIFEST_FILE = 'manifest.json';
/** Where the engine's backup lies inside a backup directory. */
export const DATA_DIR = 'data';
export const MANIFEST_FORMAT = 'inferledger-backup/1';

/** How the checksums are computed, in the manifest's own words. */
export const CHECKSUM_RULE = 'sum(cityHash64(tuple(*))) over the rows as readers see them: FINAL for engines whose merges collapse rows (ReplacingMergeTree and kin), every stored row otherwise; views have none';

const identifier = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a plain identifier');

export const tableEntrySchema = z.object({
  name: z.string().min(1),
  engine: z.string().min(1),
  /** Rows the checksum covers; null for a view (no rows of its own). */
  rows: z.number().int().min(0).nullable(),
  /** Rows stored in parts when the backup was taken (a merge may lower it for merging engines); informational. */
  stored_rows: z.number().int().min(0).nullable(),
  checksum: z.string().regex(/^\d{1,20}$/).nullable(),
  checksum_of: z.enum(['stored-rows', 'final-rows']).nullable(),
}).strict();
export type TableEntry = z.infer<typeof tableEntrySchema>;

export const fileEntrySchema = z.object({
  /** Relative to the backup directory, with forward slashes. */
  path: z.string().min(1).refine((p) => !p.split('/').includes('..') && !p.startsWith('/'), 'must stay inside the backup'),
  bytes: z.number().int().min(0),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
}).strict();
export type FileEntry = z.infer<typeof fileEntrySchema>;

export const manifestSchema = z.object({
  format: z.literal(MANIFEST_FORMAT),
  inferledger_version: z.string().min(1),
  engine_version: z.string().min(1),
  database: identifier,
  /** The newest migration applied (its number), and its file. */
  schema_version: z.number().int().min(0),
  schema_migration: z.string(),
  /** Just before the engine took its snapshot of the tables. */
  created_at: z.iso.datetime(),
  method: z.string().min(1),
  checksum: z.string().min(1),
  tables: z.array(tableEntrySchema).min(1),
  files: z.array(fileEntrySchema).min(1),
}).strict();
export type BackupManifest = z.infer<typeof manifestSchema>;

/** A backup directory's manifest, checked; an Error saying why the directory is not a backup otherwise. */
export function readManifest(dir: string): BackupManifest {
  const path = join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(code === 'ENOENT' ? `${dir} is not a complete backup: it has no ${MANIFEST_FILE}` : `cannot read ${path}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`${path} is not JSON: ${(err as Error).message}`);
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) {
    throw new Error(`${path} is not an inferledger backup manifest: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(manifest)'}: ${i.message}`).join('; ')}`);
  }
  return parsed.data;
}

/** Written whole or not at all (rename): its presence marks the backup complete. */
export function writeManifest(dir: string, manifest: BackupManifest): void {
  const path = join(dir, MANIFEST_FILE);
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(manifestSchema.parse(manifest), null, 2)}\n`);
  renameSync(temporary, path);
}
