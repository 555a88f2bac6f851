/**
 * Writes a chargeback pack to DIR/<month>/<by>-<idle>-<basis>-<status>/. A pack is
 * immutable: it is written whole into a temporary directory beside its place
 * and renamed in, so a reader never sees half a pack, and a pack that exists
 * is never overwritten (the next build of a month that is still estimated
 * finds it and leaves it). The basis is in the name because one month may be
 * reported on both bases, each pack immutable. The final pack of a month
 * whose estimated pack (same owners, policy and basis) exists also gets
 * delta.csv (estimated -> final, per line).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChargebackReport } from './chargeback.js';
import { chargebackCsv, deltaCsv } from './csv-files.js';
import { summaryJson } from './summary.js';

export interface WrittenPack {
  dir: string;
  /** False when the pack already existed and was left as it was. */
  written: boolean;
  files: string[];
}

/** Renders the parts of a pack that need more than the report (HTML, FOCUS rows). */
export type PackExtras = (report: ChargebackReport) => Promise<Record<string, string>> | Record<string, string>;

export function packName(report: ChargebackReport, status = report.status): string {
  return `${report.options.by}-${report.options.idle}-${report.options.basis}-${status}`;
}

export async function writePack(report: ChargebackReport, outDir: string, extras: PackExtras = () => ({})): Promise<WrittenPack> {
  const monthDir = join(outDir, report.options.month.label);
  const dir = join(monthDir, packName(report));
  if (existsSync(dir)) return { dir, written: false, files: [] };

  const csv = chargebackCsv(report);
  const files: Record<string, string> = {
    'chargeback.csv': csv,
    'summary.json': `${JSON.stringify(summaryJson(report), null, 2)}\n`,
    ...(await extras(report)),
  };
  if (report.status === 'final') {
    const estimated = join(monthDir, packName(report, 'estimated'), 'chargeback.csv');
    if (existsSync(estimated)) files['delta.csv'] = deltaCsv(report.options.month.label, readFileSync(estimated, 'utf8'), csv);
  }

  mkdirSync(monthDir, { recursive: true });
  const temporary = join(monthDir, `.${packName(report)}.${randomBytes(4).toString('hex')}.tmp`);
  mkdirSync(temporary);
  try {
    for (const [name, text] of Object.entries(files)) writeFileSync(join(temporary, name), text);
    try {
      renameSync(temporary, dir);
    } catch (err) {
      // Another build wrote the same pack first: theirs stands.
      if (existsSync(dir)) return { dir, written: false, files: [] };
      throw err;
    }
  } finally {
    rmSync(temporary, { recursive: true, force: true });
  }
  return { dir, written: true, files: Object.keys(files).sort() };
}
