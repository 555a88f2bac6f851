/** How `inferledger doctor` prints its report: one line per check, or one JSON object. */
import type { DoctorReport } from './run-doctor.js';

/** The shape `--json` prints; bumped when a field changes meaning or goes away. */
export const REPORT_VERSION = 1;

/** One line per check (status, name, what was seen, and the fix when not OK), then the verdict. */
export function reportLines(report: DoctorReport): string[] {
  const width = Math.max(0, ...report.checks.map((c) => c.name.length));
  const lines = [`inferledger doctor at ${report.checkedAt}`];
  for (const c of report.checks) lines.push(`${c.status.padEnd(4)}  ${c.name.padEnd(width)}  ${c.detail}${c.fix ? ` — fix: ${c.fix}` : ''}`);
  const { OK, WARN, FAIL } = report.counts;
  const skipped = report.skipped.length > 0 ? `; skipped: ${report.skipped.join(', ')}` : '';
  const verdict = FAIL > 0 ? 'exit 1: a FAIL needs a person' : WARN > 0 ? 'exit 0: worth a look, nothing broken' : 'exit 0';
  lines.push(`${report.checks.length} checks: ${OK} OK, ${WARN} WARN, ${FAIL} FAIL${skipped} (${verdict})`);
  return lines;
}

/** The report as one JSON object (`--json`). */
export function reportJson(report: DoctorReport): string {
  return JSON.stringify({ version: REPORT_VERSION, ...report });
}
