/**
 * What a replay did, for the operator: how many records were read, left
 * aside by the filters, stored, found stored already, and still invalid,
 * the last counted per today's reason with a few examples each, and the
 * text the CLI prints. Shared by the dead-letter and the rejects replays.
 */
import { cutText } from '../files/ingest-run.js';

export interface ReplayExample {
  /** Where the record is: `<dlq topic>/<partition>/<offset>`, or `<rejects file>:<line>`. */
  at: string;
  /** Why it was refused the first time. */
  was: string;
  /** The start of its value. */
  value: string;
}

export interface ReasonCount {
  reason: string;
  count: number;
  examples: ReplayExample[];
}

export interface ReplayReport {
  /** What was replayed, e.g. `dead letters of <topic>.dlq`. */
  what: string;
  dryRun: boolean;
  read: number;
  /** Left aside by --since / --reason. */
  skipped: number;
  /** Stored now (a dry run: would be stored). */
  stored: number;
  /** Already stored: not stored again. */
  duplicates: number;
  /** Still invalid (or conflicting with the copy stored first): not stored, left where they are. */
  invalid: number;
  reasons: ReasonCount[];
}

const EXAMPLES_PER_REASON = 3;
const EXAMPLE_CHARS = 200;
/** Distinct reasons kept; past this (e.g. a JSON error at a different position each time), they are counted together. */
const MAX_REASONS = 200;
const OTHER_REASONS = '(other reasons)';

export class ReplayTally {
  read = 0;
  skipped = 0;
  stored = 0;
  duplicates = 0;
  private readonly byReason = new Map<string, ReasonCount>();

  get invalid(): number {
    let n = 0;
    for (const r of this.byReason.values()) n += r.count;
    return n;
  }

  /** A record still refused today, and why. */
  refused(reason: string, example: { at: string; was: string; value: Buffer | string | null }): void {
    const key = this.byReason.has(reason) || this.byReason.size < MAX_REASONS ? reason : OTHER_REASONS;
    let entry = this.byReason.get(key);
    if (!entry) {
      entry = { reason: key, count: 0, examples: [] };
      this.byReason.set(key, entry);
    }
    entry.count++;
    if (entry.examples.length < EXAMPLES_PER_REASON) {
      const text = example.value === null ? '(no value)' : typeof example.value === 'string' ? example.value : example.value.subarray(0, EXAMPLE_CHARS * 4).toString('utf8');
      entry.examples.push({ at: example.at, was: example.was, value: cutText(text, EXAMPLE_CHARS) });
    }
  }

  report(what: string, dryRun: boolean): ReplayReport {
    const reasons = [...this.byReason.values()].sort((a, b) => b.count - a.count || (a.reason < b.reason ? -1 : 1));
    return { what, dryRun, read: this.read, skipped: this.skipped, stored: this.stored, duplicates: this.duplicates, invalid: this.invalid, reasons };
  }
}

/** The report as lines of text: the counts, then each reason with its examples. */
export function formatReplayReport(report: ReplayReport): string[] {
  const stored = report.dryRun ? 'would be stored' : 'stored';
  const lines = [
    `${report.what}: ${report.read} read, ${report.skipped} skipped by the filters, ${report.stored} ${stored}, ` +
      `${report.duplicates} already stored, ${report.invalid} still invalid`,
  ];
  for (const r of report.reasons) {
    lines.push(`  ${r.count} x ${r.reason}`);
    for (const e of r.examples) lines.push(`      ${e.at} (refused for: ${e.was}): ${e.value}`);
  }
  if (report.invalid > 0) lines.push('still-invalid records are left where they are; fix them with --set, or at their producer');
  if (report.dryRun) lines.push('dry run: nothing stored, nothing committed');
  return lines;
}
