/** `retention apply`: raw requests and refused lines older than the configured days, dropped a month at a time. */
import type { Command } from 'commander';
import { EXIT, type CommandContext } from '../context.js';

export function registerRetentionCommands(program: Command, ctx: CommandContext): void {
  const { io } = ctx;
  program
    .command('retention')
    .description('how long raw requests and refused lines are kept (retention.requestDays, retention.rejectDays)')
    .command('apply')
    .description('drop the months of raw requests and refused lines older than the horizon now; a month of requests only once the hourly groups of its days match its raw rows, else it is kept and the reason printed')
    .option('--dry-run', 'print what would be dropped and why, and change nothing')
    .option('--json', 'print the outcome as one JSON object')
    .action(async (opts: { dryRun?: boolean; json?: boolean }) => {
      const config = await ctx.config();
      const [{ withCurrentWarehouse }, { applyRetention }, { retentionSummary }] = await Promise.all([
        import('../../service/warehouse-access.js'), import('../../retention/apply.js'), import('../../retention/summary.js'),
      ]);
      const result = await withCurrentWarehouse(config, io.err, (warehouse) => applyRetention(warehouse, config, { dryRun: opts.dryRun === true }));
      if (opts.json === true) io.out(JSON.stringify(result));
      else retentionSummary(result).forEach((line) => { io.out(line); });
      // Something older than the horizon was kept: the caller (cron, CI) should hear of it.
      if (result.tables.some((t) => t.partitions.some((p) => p.action === 'refused'))) ctx.setExitCode(EXIT.failed);
    });
}
