/**
 * Writes a chargeback pack to DIR/<month>/<by>-<idle>-<basis>-<status>/. A pack is
 * immutable: it is written whole into a temporary directory beside its place
 * and renamed in, so a reader never sees half a pack, and a pack that exists
 * is never overwritten (the next build of a month that is still estimated
 * finds it and leaves it). The basis is in the name because one month may be
 * reported on both bases, each pack immutable. The final pack of a month
 * whose estimated pack (same owners, policy and basis) exists also gets
 * delta.csv (estimated -> final, per line). An owner pack (one team's or
 * tenant's lines, owner-scope.ts) sits beside the month's packs in a
 * directory of its own, written the same way.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { ChargebackReport } from './chargeback.js';
import { chargebackCsv, deltaCsv } from './csv-files.js';
import { ownerDirName } from './owner-name.js';
import { summaryJson } from './summary.js';

export interface WrittenPack {
  dir: string;
  /** False when the pack already existed and was left as it was. */
  written: boolean;
  files: string[];
}

/** Renders the parts of a pack that need more than the report (HTML, FOCUS rows). */
export type PackExtras = (report: ChargebackReport) => Promise<Record<string, string>> | Record<string, string>;

/** An owner pack (report.owner) is named after the month's pack it was cut from, plus `-owner-<owner as a safe name>`. */
export function packName(report: ChargebackReport, status = report.status): string {
  const name = `${report.options.by}-${report.options.idle}-${report.options.basis}-${status}`;
  return report.owner === undefined ? name : `${name}-owner-${ownerDirName(report.owner.name)}`;
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
    const estimated = estimatedCsv(monthDir, report);
    if (estimated !== undefined) files['delta.csv'] = deltaCsv(report.options.month.label, estimated, csv);
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

/**
 * chargeback.csv of the month's estimated pack on the same basis: the pack
 * of that name, else one named as packs were before the basis was part of
 * the name (`<by>-<idle>-estimated`) whose summary.json has this basis.
 */
function estimatedCsv(monthDir: string, report: ChargebackReport): string | undefined {
  const { by, idle, basis } = report.options;
  const current = join(monthDir, packName(report, 'estimated'), 'chargeback.csv');
  if (existsSync(current)) return readFileSync(current, 'utf8');
  // An owner pack's delta is against that owner's estimated pack only: a whole-month pack holds every owner.
  if (report.owner !== undefined) return undefined;
  const older = join(monthDir, `${by}-${idle}-estimated`);
  if (!existsSync(join(older, 'chargeback.csv')) || !existsSync(join(older, 'summary.json'))) return undefined;
  const summary = summaryBasis.safeParse(JSON.parse(readFileSync(join(older, 'summary.json'), 'utf8')));
  return summary.success && summary.data.cost_basis === basis ? readFileSync(join(older, 'chargeback.csv'), 'utf8') : undefined;
}

const summaryBasis = z.object({ cost_basis: z.string() });
