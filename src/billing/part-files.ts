/**
 * The files of one export as a user names them: files, directories (the part
 * files under them, recursively: exports lay parts out by billing period) or
 * a glob in the last path segment (`exports/part-*.csv.gz`, for a pattern the
 * shell did not expand). Sorted, so parts are read in a stable order.
 */
import { readdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** What a part file of an export is called. */
const PART_FILE = /\.(csv|csv\.gz|parquet)$/i;

export interface PartFile {
  file: string;
  /** Why the name stands for no file to read (an empty directory, a glob matching nothing). */
  error?: string;
}

export function expandPartFiles(names: readonly string[]): PartFile[] {
  const out: PartFile[] = [];
  const seen = new Set<string>();
  const push = (p: PartFile): void => {
    if (seen.has(p.file)) return;
    seen.add(p.file);
    out.push(p);
  };
  for (const name of names) {
    if (/[*?]/.test(basename(name)) && !/[*?]/.test(dirname(name))) {
      const pattern = globRegex(basename(name));
      const matches = listDir(dirname(name)).filter((f) => pattern.test(f)).map((f) => join(dirname(name), f)).filter(isFile).sort();
      if (matches.length === 0) push({ file: name, error: 'no file matches this pattern' });
      matches.forEach((file) => { push({ file }); });
      continue;
    }
    if (isDirectory(name)) {
      const parts = walk(name).filter((f) => PART_FILE.test(f)).sort();
      if (parts.length === 0) push({ file: name, error: 'directory holds no part files (.csv, .csv.gz, .parquet)' });
      parts.forEach((file) => { push({ file }); });
      continue;
    }
    push({ file: name });
  }
  return out;
}

function globRegex(pattern: string): RegExp {
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replaceAll('*', '.*').replaceAll('?', '.');
  return new RegExp(`^${body}$`);
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return walk(path);
    return e.isFile() ? [path] : [];
  });
}
