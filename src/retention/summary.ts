/** The lines `inferledger retention apply` prints for a run. */
import type { RetentionResult } from './apply.js';

export function retentionSummary(result: RetentionResult): string[] {
  const lines: string[] = [];
  for (const t of result.tables) {
    lines.push(`${t.table}: ${t.keepDays} days kept, horizon ${t.horizon} (whole months before ${t.keptFrom} go)${result.dryRun ? ', dry run' : ''}`);
    if (t.partitions.length === 0) lines.push('  nothing older than the horizon');
    for (const p of t.partitions) {
      lines.push(`  ${p.partition}: ${p.action} (${p.rows.toLocaleString('en-US')} rows)`);
      for (const reason of p.reasons) lines.push(`    ${reason}`);
    }
  }
  return lines;
}
