/**
 * The files of backups: where one may be written, moving the engine's backup
 * out of the data directory and linking it back in for a restore, and every
 * file's size and SHA-256, listed in the manifest and checked before loading.
 */
import { createHash } from 'node:crypto';
import { cpSync, createReadStream, existsSync, linkSync, lstatSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, sep } from 'node:path';
import type { FileEntry } from './manifest.js';

/** A backup refused before anything was written: the caller's input (a directory in use, ...). */
export class BackupRefusedError extends Error {
  override name = 'BackupRefusedError';
}

/** Whether `path` is `dir` or lies under it (both absolute). */
export function isInside(path: string, dir: string): boolean {
  const rel = relative(dir, path);
  return rel === '' || !(rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel));
}

/** The names in a directory, a few of them, for a message. */
export function someEntries(dir: string, max = 5): string {
  const names = readdirSync(dir).sort();
  return `${names.slice(0, max).join(', ')}${names.length > max ? ` and ${names.length - max} more` : ''}`;
}

/** A backup may be written to a directory that is new or empty, and outside the data directory it copies. */
export function checkBackupTarget(target: string, dataDir: string): void {
  if (isInside(target, dataDir)) {
    throw new BackupRefusedError(`${target} is inside the data directory ${dataDir}: a backup there would be lost with it (and would keep a restore from finding the directory empty); choose a directory elsewhere`);
  }
  if (!existsSync(target)) return;
  if (!statSync(target).isDirectory()) throw new BackupRefusedError(`${target} is a file: a backup needs an empty or new directory`);
  if (readdirSync(target).length > 0) throw new BackupRefusedError(`${target} is not empty (it holds ${someEntries(target)}): a backup needs an empty or new directory`);
}

/** Move a directory tree: a rename on one file system, else copy and delete. */
export function moveTree(from: string, to: string): void {
  mkdirSync(dirname(to), { recursive: true });
  try {
    renameSync(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    cpSync(from, to, { recursive: true, errorOnExist: true, force: false });
    rmSync(from, { recursive: true, force: true });
  }
}

/**
 * The same files under another path for the engine to read: hard links when
 * both lie on one file system (nothing is copied; RESTORE only reads them),
 * copies otherwise.
 */
export function linkTree(from: string, to: string): void {
  mkdirSync(to, { recursive: true });
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    const source = join(from, entry.name);
    const target = join(to, entry.name);
    if (entry.isDirectory()) linkTree(source, target);
    else if (entry.isFile()) {
      try {
        linkSync(source, target);
      } catch (err) {
        if (!['EXDEV', 'EPERM', 'EMLINK'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
        cpSync(source, target, { errorOnExist: true, force: false });
      }
    } else throw new Error(`${source} is neither a file nor a directory: not part of a backup`);
  }
}

/** Every file under `dir/sub`, as paths relative to `dir` (forward slashes), sorted. */
export function filesUnder(dir: string, sub: string): string[] {
  const out: string[] = [];
  const walk = (path: string): void => {
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      const full = join(path, entry.name);
      if (entry.isDirectory()) walk(full);
      else out.push(relative(dir, full).split(sep).join('/'));
    }
  };
  walk(join(dir, sub));
  return out.sort();
}

async function sha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Size and SHA-256 of every file under `dir/sub`. */
export async function describeFiles(dir: string, sub: string): Promise<FileEntry[]> {
  const entries: FileEntry[] = [];
  for (const path of filesUnder(dir, sub)) {
    const full = join(dir, ...path.split('/'));
    entries.push({ path, bytes: statSync(full).size, sha256: await sha256(full) });
  }
  return entries;
}

/**
 * The problems of a backup's files against its manifest: a file missing,
 * changed (size or SHA-256), not a plain file, or one the manifest does not list.
 */
export async function fileProblems(dir: string, sub: string, files: readonly FileEntry[]): Promise<string[]> {
  const problems: string[] = [];
  const listed = new Set(files.map((f) => f.path));
  const present = existsSync(join(dir, sub)) ? filesUnder(dir, sub) : [];
  for (const path of present) if (!listed.has(path)) problems.push(`${path} is not in the manifest`);
  for (const file of files) {
    const full = join(dir, ...file.path.split('/'));
    if (!existsSync(full)) {
      problems.push(`${file.path} is missing`);
      continue;
    }
    if (!lstatSync(full).isFile()) {
      problems.push(`${file.path} is not a plain file`);
      continue;
    }
    const bytes = statSync(full).size;
    if (bytes !== file.bytes) problems.push(`${file.path} has ${bytes} bytes, the manifest says ${file.bytes}`);
    else if (await sha256(full) !== file.sha256) problems.push(`${file.path} differs from the manifest (SHA-256)`);
  }
  return problems;
}
