/** `attribute`, `demo`, `sql` and `report chargeback`: the attributed tables, made and read. */
import { readFileSync } from 'node:fs';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { DEMO_DATABASE } from '../../demo/demo-database.js';
import { IDLE_POLICIES, type IdlePolicy } from '../../report/idle-policy.js';
import { ownerNameProblem } from '../../report/owner-name.js';
import { isoInstant, paramPair, type CommandContext } from '../context.js';
import { parseMonth, type Month } from '../../util/time.js';

/** `sql --format` names and the ClickHouse formats they stand for. */
const SQL_FORMATS = { table: 'PrettyCompactMonoBlock', json: 'JSONEachRow', csv: 'CSVWithNames' } as const;

export function registerAnalysisCommands(program: Command, ctx: CommandContext): void {
  const { io } = ctx;
  program
    .command('attribute')
    .description('attribute billed cost to traffic for every UTC day touching [--from, --to); re-running replaces')
    .requiredOption('--from <time>', 'ISO-8601 start (inclusive), e.g. 2026-10-01 or 2026-10-01T00:00:00Z', isoInstant('--from'))
    .requiredOption('--to <time>', 'ISO-8601 end (exclusive)', isoInstant('--to'))
    .addOption(new Option('--cost-basis <basis>', 'bill column to split (env INFERLEDGER_COST_BASIS)').choices(['effective', 'billed']))
    .option('--adopt-settings', 'record the configured attribution settings for the database, replacing those it was attributed with, then attribute')
    .option('--json', 'print one JSON line per day')
    .action(async (opts: { from: Date; to: Date; costBasis?: 'effective' | 'billed'; adoptSettings?: boolean; json?: boolean }) => {
      if (opts.to.getTime() <= opts.from.getTime()) throw new InvalidArgumentError('--to must be after --from');
      const config = await ctx.config({ overrides: { attribution: { costBasis: opts.costBasis } } });
      const [{ withCurrentWarehouse }, { attributeWindow }, { attributionSettingsFor }] = await Promise.all([
        import('../../service/warehouse-access.js'), import('../../attribution/attribute.js'), import('../../attribution/recorded-settings.js'),
      ]);
      await withCurrentWarehouse(config, io.err, async (warehouse) => {
        // The database's recorded settings, unless this process configured others: then refused, or adopted when asked.
        const settings = await attributionSettingsFor(warehouse, config.attribution, { adopt: opts.adoptSettings === true, by: 'inferledger attribute', log: io.err });
        await attributeWindow(warehouse, settings, opts.from, opts.to, (day) => {
          if (opts.json === true) io.out(JSON.stringify(day));
          else io.out(`${day.day}: ${day.rows.cost_allocation} allocation rows, ${day.rows.pool_cost} pool-periods, ${day.rows.cpp_daily} cpp rows (${day.seconds.toFixed(2)} s)`);
        });
      });
    });

  program
    .command('demo')
    .description(`a month of realistic traffic and billing, ingested and attributed, with the first numbers to look at (database ${DEMO_DATABASE})`)
    .action(async () => {
      const config = await ctx.config();
      const { runDemo } = await import('../../demo/demo.js');
      await runDemo(config, io.out);
    });

  program
    .command('sql')
    .description('run a query on the warehouse; values go in as --param, bound by ClickHouse, e.g. {tenant:String}')
    .argument('[query]', 'SQL; refer to parameters as {name:Type}')
    .option('--file <path>', 'read the query from a file instead')
    .addOption(new Option('--format <format>', 'output format').choices(Object.keys(SQL_FORMATS)).default('table'))
    .option('--param <name=value>', 'query parameter (repeatable)', paramPair)
    .option('--write', 'allow statements that change data (read-only otherwise)')
    .action(async (query: string | undefined, opts: { format: keyof typeof SQL_FORMATS; param?: Record<string, string>; write?: boolean; file?: string }) => {
      if ((query === undefined) === (opts.file === undefined)) throw new InvalidArgumentError('give either a query or --file, not both');
      const sql = opts.file === undefined ? (query ?? '') : readFileSync(opts.file, 'utf8');
      const config = await ctx.config();
      const print = (text: string): void => { if (text.length > 0) io.out(text.trimEnd()); };
      const { runningService, withWarehouse } = await import('../../service/warehouse-access.js');
      // A running service holds the embedded data directory: its query endpoint answers instead, read-only.
      const service = runningService(config);
      if (service) {
        const { pingService, queryService } = await import('../../service/query-client.js');
        const { readAdminToken } = await import('../../service/admin-route.js');
        if (service.port === null || await pingService(service)) {
          if (opts.write === true) throw new InvalidArgumentError(`--write is refused: the data directory ${config.warehouse.dataDir} is held by a running \`inferledger run\` (pid ${service.pid}), which answers read-only queries only; stop it to write`);
          // Whoever can read the data directory's files reads every row anyway: the service's token lets the CLI in as (local).
          const token = readAdminToken(config.warehouse.dataDir, service.pid);
          print(await queryService(service, { sql, params: opts.param ?? {}, format: SQL_FORMATS[opts.format], database: config.warehouse.database, password: config.service.queryPassword, token, timeoutMs: config.warehouse.requestTimeoutMs }));
          return;
        }
      }
      await withWarehouse(config, async (warehouse) => {
        const { stream } = await warehouse.analystQuery(sql, opts.param ?? {}, { format: SQL_FORMATS[opts.format], allowWrites: opts.write === true, limits: config.queries });
        let text = '';
        for await (const chunk of stream) text += String(chunk);
        print(text);
      });
    });

  program
    .command('report')
    .description('reports built from the attributed tables')
    .command('chargeback')
    .description('a month\'s chargeback pack (CSV, summary, FOCUS allocation, HTML) in <out>/<month>/<by>-<idle>-<basis>-<status>/ (one owner\'s: ...-owner-<name>/); packs are never overwritten')
    .requiredOption('--month <YYYY-MM>', 'calendar month (UTC)', monthOption)
    .addOption(new Option('--by <owner>', 'who pays: team or tenant').choices(['team', 'tenant']).makeOptionMandatory())
    .option('--out <dir>', 'directory of the packs', 'reports')
    .addOption(new Option('--idle <policy>', 'who carries idle GPU cost').choices([...IDLE_POLICIES]).default('spread'))
    .addOption(new Option('--basis <basis>', 'bill column the month was attributed on (default: attribution.costBasis)').choices(['effective', 'billed']))
    .option('--owner <name>', 'only this team\'s (--by team) or tenant\'s (--by tenant) lines, share of the bill and idle: a pack naming no other owner', ownerOption)
    .action(async (opts: { month: Month; by: 'team' | 'tenant'; out: string; idle: IdlePolicy; basis?: 'effective' | 'billed'; owner?: string }) => {
      const config = await ctx.config();
      const [{ withReader }, { runChargebackReport }, { fixed }] = await Promise.all([
        import('../../service/warehouse-access.js'), import('../../report/run-report.js'), import('../../util/decimal.js'),
      ]);
      const { report, pack } = await withReader(config, io.err, (warehouse) =>
        runChargebackReport(warehouse, config, { month: opts.month, by: opts.by, idle: opts.idle, outDir: opts.out, ...(opts.basis ? { basis: opts.basis } : {}), ...(opts.owner === undefined ? {} : { owner: opts.owner }), log: io.err }));
      io.out(pack.written ? `${report.options.month.label}: ${report.status} pack written to ${pack.dir} (${pack.files.join(', ')})` : `${report.options.month.label}: ${pack.dir} already exists; packs are never overwritten`);
      for (const c of report.owner?.currencies ?? []) {
        io.out(`  ${c.currency}: ${opts.by} ${JSON.stringify(report.owner?.name)} ${fixed(c.cost)} (used ${fixed(c.used)} + idle ${fixed(c.idle)}) of billed ${fixed(c.billed)}, share ${fixed(c.share, 6)}; (idle) line not charged to it ${fixed(c.idleNotCharged)}`);
      }
      for (const t of report.totals) io.out(`  ${t.currency}: billed ${fixed(t.billed)} = allocated ${fixed(t.allocated)} + idle ${fixed(t.idle)} + unallocated ${fixed(t.unallocated)}`);
      for (const reason of report.statusReasons) io.out(`  estimated: ${reason}`);
    });
}

/** `--owner NAME`: a team or tenant as stored, never the report's (idle) or (unallocated) line. */
function ownerOption(value: string): string {
  const problem = ownerNameProblem(value);
  if (problem !== undefined) throw new InvalidArgumentError(`--owner ${problem}`);
  return value;
}

/** `--month YYYY-MM` as the UTC month it names. */
function monthOption(value: string): Month {
  const month = parseMonth(value);
  if (!month) throw new InvalidArgumentError('--month must be a month as YYYY-MM, e.g. 2026-10');
  return month;
}
