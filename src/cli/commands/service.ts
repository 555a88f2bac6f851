/** `run` and `jobs list|run|retry`: the service and its scheduled jobs (BullMQ on Redis). */
import { InvalidArgumentError, Option, type Command } from 'commander';
import type { Config } from '../../config/config.js';
import type { JobRuntime } from '../../scheduler/runtime.js';
import { ROLES, type Role } from '../../service/roles.js';
import { DAY_MS, formatDate } from '../../util/time.js';
import { asUsageError, EXIT, isoInstant, nonNegativeInt, type CommandContext } from '../context.js';

export function registerServiceCommands(program: Command, ctx: CommandContext): void {
  const { io } = ctx;
  program
    .command('run')
    .description('the service: Kafka collector, job scheduler and worker (all, the default: one process on the embedded warehouse), or one role per process against a ClickHouse server')
    .addOption(new Option('--role <role>', 'what this process runs').choices([...ROLES]).default('all'))
    .option('--port <n>', 'serve /metrics and /healthz on 127.0.0.1 at this port (0: any free port; env INFERLEDGER_SERVICE_PORT)', nonNegativeInt('--port'))
    .option('--query-port <n>', 'answer read-only ClickHouse HTTP queries at this port (role all, embedded warehouse; 0: off; env INFERLEDGER_QUERY_PORT, default 8124)', nonNegativeInt('--query-port'))
    .option('--dashboard-port <n>', 'serve the bull-board queue dashboard at this port (0: off, the default; env INFERLEDGER_DASHBOARD_PORT)', nonNegativeInt('--dashboard-port'))
    .action(async (opts: { role: Role; port?: number; queryPort?: number; dashboardPort?: number }) => {
      const config = await ctx.config({ overrides: { service: { port: opts.port, queryPort: opts.queryPort, dashboardPort: opts.dashboardPort } } });
      const jobs = await ctx.jobs();
      const { runServiceProcess } = await import('../../service/run-process.js');
      if (!await runServiceProcess({ role: opts.role, config, jobs, log: io.err })) ctx.setExitCode(EXIT.failed);
    });

  const jobsCommand = program.command('jobs').description('scheduled jobs: what ran, what is owed, run or retry one (needs only Redis)');
  const withRuntime = async <T>(work: (runtime: JobRuntime, config: Config) => Promise<T>): Promise<T> => {
    const config = await ctx.config();
    const [jobs, { JobRuntime }] = await Promise.all([ctx.jobs(), import('../../scheduler/runtime.js')]);
    const runtime = new JobRuntime({ config, jobs, log: io.err, failFast: true });
    try {
      return await work(runtime, config);
    } finally {
      await runtime.close(0);
    }
  };
  jobsCommand
    .command('list')
    .description('each job: schedule, last run, duration, rows written, last error, next run, windows owed, queue')
    .option('--json', 'one JSON object per job')
    .action(async (opts: { json?: boolean }) => {
      await withRuntime(async (runtime) => {
        for (const j of await runtime.list()) {
          if (opts.json === true) {
            io.out(JSON.stringify(j));
            continue;
          }
          io.out(`${j.name} (queue ${j.queue}): ${j.schedule}`);
          io.out(`  last run: ${j.lastRun || 'never'}${j.lastState ? ` ${j.lastState}` : ''}${j.durationMs === null ? '' : `, ${(j.durationMs / 1000).toFixed(1)} s`}${j.rowsWritten === null ? '' : `, ${j.rowsWritten} rows written`}`);
          if (j.lastError) io.out(`  last error: ${j.lastError}`);
          if (j.nextRun) io.out(`  next run: ${j.nextRun}`);
          if (j.owed !== null) io.out(`  windows owed: ${j.owed} (as of ${j.owedAt})`);
          if (j.freshnessSeconds !== null) io.out(`  freshness: ${formatAge(j.freshnessSeconds)} (newest fully attributed hour ends ${j.attributedThrough.slice(0, 16)}Z)`);
          io.out(`  queue: ${j.waiting} waiting, ${j.active} active, ${j.failed} failed`);
        }
      });
    });
  jobsCommand
    .command('run')
    .description('enqueue a scheduled job now, through the same queue; with --from/--to, recompute those days whatever the watermarks say (report-chargeback: look only at the months in the window)')
    .argument('<name>', 'a scheduled job: billing-pull, attribute, alerts-evaluate or report-chargeback')
    .option('--from <day>', 'first UTC day (inclusive), e.g. 2026-11-01', isoInstant('--from'))
    .option('--to <day>', 'end UTC day (exclusive)', isoInstant('--to'))
    .action(async (name: string, opts: { from?: Date; to?: Date }) => {
      if ((opts.from === undefined) !== (opts.to === undefined)) throw new InvalidArgumentError('--from and --to go together');
      if (opts.from && opts.to && opts.to.getTime() <= opts.from.getTime()) throw new InvalidArgumentError('--to must be after --from');
      // A window ending inside a day covers that day whole.
      const window = opts.from && opts.to ? { from: formatDate(opts.from.getTime()), to: formatDate(Math.ceil(opts.to.getTime() / DAY_MS) * DAY_MS) } : {};
      await withRuntime(async (runtime) => {
        const id = await runtime.runNow(name, window).catch(asUsageError);
        io.out(`enqueued ${name} as job ${id}; a running worker takes it (see \`inferledger jobs list\`)`);
      });
    });
  jobsCommand
    .command('retry')
    .description('retry a failed job by id, or every failed job of a name')
    .argument('<name-or-id>', 'job name (e.g. attribute-day) or job id')
    .action(async (nameOrId: string) => {
      await withRuntime(async (runtime) => {
        const ids = await runtime.retry(nameOrId).catch(asUsageError);
        io.out(ids.length > 0 ? `retrying ${ids.join(', ')}` : `no failed ${nameOrId} jobs`);
      });
    });
}

/** An age as `42s`, `4m12s`, `3h05m` or `2d07h`. */
export function formatAge(seconds: number): string {
  const s = Math.floor(seconds);
  const two = (n: number): string => String(n).padStart(2, '0');
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${two(s % 60)}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${two(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86_400)}d${two(Math.floor((s % 86_400) / 3600))}h`;
}
