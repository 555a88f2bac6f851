/** `migrate` and `ingest requests|billing`: the schema, and files into the raw tables. */
import { InvalidArgumentError, Option, type Command } from 'commander';
import type { BillingImportSummary } from '../../billing/billing-file.ingest.js';
import { BILLING_FORMAT_NAMES } from '../../billing/format-names.js';
import type { RunSummary } from '../../files/ingest-run.js';
import { EXIT, fieldSet, positiveInt, unique, type CliIo, type CommandContext } from '../context.js';

interface IngestRequestsFlags {
  batchRows?: number;
  fromRejects?: string;
  set?: Record<string, unknown>;
  dryRun?: boolean;
  json?: boolean;
}

/** Bad lines listed on stderr; all of them are in the rejects files and ingest_rejects. */
const BAD_LINES_PRINTED = 50;

export function registerFileCommands(program: Command, ctx: CommandContext): void {
  const { io } = ctx;
  program
    .command('migrate')
    .description('apply pending schema migrations (safe to run twice, and from two processes at once)')
    .action(async () => {
      const [{ withWarehouse }, { migrate }] = await Promise.all([import('../../service/warehouse-access.js'), import('../../warehouse/migrate.js')]);
      await withWarehouse(await ctx.config(), async (warehouse) => {
        const result = await migrate(warehouse);
        io.out(`${warehouse.backend} warehouse, database ${warehouse.database}: applied ${result.applied.length} (${result.applied.join(', ') || 'none'}), already applied ${result.alreadyApplied.length}`);
      });
    });

  const ingest = program.command('ingest').description('load files into the raw tables');
  ingest
    .command('requests')
    .description('request events from NDJSON files (plain or gzip); or, with --from-rejects, the rejected lines of an earlier run judged again')
    .argument('[files...]', 'NDJSON files, one event per line')
    .option('--batch-rows <n>', 'rows per warehouse insert', positiveInt('--batch-rows'))
    .option('--from-rejects <file>', 'replay a rejects file (<input>.rejects.<run>.ndjson): store its now-valid lines once, report the rest by reason')
    .option('--set <field=value>', 'with --from-rejects: set a top-level event field before judging, repeatable; the value as JSON when it parses, else as text', fieldSet)
    .option('--dry-run', 'with --from-rejects: store nothing, report what the replay would do')
    .option('--json', 'print the summary as JSON')
    .action(async (files: string[], opts: IngestRequestsFlags) => {
      if (opts.fromRejects === undefined && (opts.set !== undefined || opts.dryRun === true)) throw new InvalidArgumentError('--set and --dry-run go with --from-rejects');
      if (opts.fromRejects !== undefined && files.length > 0) throw new InvalidArgumentError('--from-rejects replays one rejects file: give no input files with it');
      if (opts.fromRejects === undefined && files.length === 0) throw new InvalidArgumentError('missing input files (or --from-rejects <file>)');
      const config = await ctx.config({ overrides: { ingest: { batchRows: opts.batchRows } } });
      if (opts.fromRejects !== undefined) {
        const rejectsFile = opts.fromRejects;
        const [{ withCurrentWarehouse }, { replayRejects }, { formatReplayReport }] = await Promise.all([
          import('../../service/warehouse-access.js'), import('../../replay/rejects-replay.js'), import('../../replay/replay-report.js'),
        ]);
        const report = await withCurrentWarehouse(config, io.err, (warehouse) => replayRejects(warehouse, rejectsFile, { ...config.ingest, sets: opts.set ?? {}, dryRun: opts.dryRun === true }));
        if (opts.json === true) io.out(JSON.stringify(report));
        else for (const line of formatReplayReport(report)) io.out(line);
        if (report.read === 0) ctx.setExitCode(EXIT.failed);
        return;
      }
      const [{ withCurrentWarehouse }, { ingestRequestFiles }, { nothingRead }] = await Promise.all([
        import('../../service/warehouse-access.js'), import('../../files/requests-file.ingest.js'), import('../../files/ingest-run.js'),
      ]);
      const summary = await withCurrentWarehouse(config, io.err, (warehouse) => ingestRequestFiles(warehouse, unique(files), config.ingest));
      printSummary(summary, opts.json === true, io.out);
      if (nothingRead(summary)) ctx.setExitCode(EXIT.failed);
    });
  ingest
    .command('billing')
    .description('a billing export (CSV plain or gzip, or Parquet) as one new billing version, all or nothing')
    .argument('<files...>', 'the part files of one export: files, directories of parts, or a glob such as "export/part-*.csv.gz"')
    .addOption(new Option('--format <format>', 'export format').choices(BILLING_FORMAT_NAMES).makeOptionMandatory())
    .option('--pool-tag-key <key>', 'tag whose value names the GPU pool (env INFERLEDGER_POOL_TAG_KEY, default inference-pool)')
    .option('--accept-partial', 'record the import even with bad lines (they are listed and left out of the bill)')
    .option('--json', 'print the summary as JSON')
    .action(async (files: string[], opts: { format: string; poolTagKey?: string; acceptPartial?: boolean; json?: boolean }) => {
      const config = await ctx.config({ overrides: { billing: { poolTagKey: opts.poolTagKey } } });
      const [{ withCurrentWarehouse }, { ingestBillingFiles }, { BILLING_FILE_FORMATS }] = await Promise.all([
        import('../../service/warehouse-access.js'), import('../../billing/billing-file.ingest.js'), import('../../billing/file-formats.js'),
      ]);
      const format = BILLING_FILE_FORMATS[opts.format];
      if (!format) throw new InvalidArgumentError(`unknown format ${opts.format}`);
      const summary = await withCurrentWarehouse(config, io.err, (warehouse) => ingestBillingFiles(warehouse, unique(files), {
        format,
        poolTagKey: config.billing.poolTagKey,
        batchRows: config.ingest.batchRows,
        acceptPartial: opts.acceptPartial === true,
        onProgress: (file, written) => { io.err(`  ${file}: ${written} lines written (not visible until the import is recorded)`); },
      }));
      if (opts.json === true) io.out(JSON.stringify(summary));
      else printBillingImport(summary, io);
      if (!summary.recorded) ctx.setExitCode(EXIT.failed);
    });
}

function printSummary(summary: RunSummary, json: boolean, out: (line: string) => void): void {
  if (json) {
    out(JSON.stringify(summary));
    return;
  }
  for (const f of summary.files) {
    out(`${f.file}: ${f.accepted} accepted, ${f.rejected} rejected, ${f.duplicates} duplicate`);
    if (f.error) out(`  ! ${f.error}`);
    if (f.rejectsFile) out(`  rejected lines, with reasons: ${f.rejectsFile} (and table ingest_rejects, run ${summary.runId})`);
  }
  if (summary.files.length > 1) {
    out(`total: ${summary.accepted} accepted, ${summary.rejected} rejected, ${summary.duplicates} duplicate`);
  }
}

/** Per file: lines accepted and rejected beside the billed total read, to hold against the invoice. */
function printBillingImport(summary: BillingImportSummary, io: CliIo): void {
  summary.files.forEach((f, i) => {
    const billed = Object.entries(summary.billedByFile[i] ?? {}).map(([currency, total]) => `${currency} ${total}`).join(', ') || 'nothing';
    io.out(`${f.file}: ${f.accepted} accepted, ${f.rejected} rejected; billed total of the accepted lines: ${billed}`);
    if (f.error) io.out(`  ! ${f.error}`);
    if (f.rejectsFile) io.out(`  rejected lines, with reasons: ${f.rejectsFile} (and table ingest_rejects, run ${summary.runId})`);
  });
  if (summary.files.length > 1) io.out(`total: ${summary.accepted} accepted, ${summary.rejected} rejected`);
  // A reason names its column already ("BilledCost: must be ...").
  summary.badLines.slice(0, BAD_LINES_PRINTED).forEach((b) => { io.err(`${b.file}:${b.line}: ${b.reason}`); });
  if (summary.rejected > BAD_LINES_PRINTED) io.err(`... ${summary.rejected - BAD_LINES_PRINTED} more bad lines: see the rejects files above and ingest_rejects (run ${summary.runId})`);
  if (summary.inferredBillingPeriods > 0) {
    io.out(`note: ${summary.inferredBillingPeriods} lines have no billing period (BillingPeriodStart/End): the month of their charge period is used`);
  }
  if (summary.recorded) io.out(`recorded billing version ${summary.billingVersion}: ${summary.scopes} billing periods replaced`);
  else io.err(`inferledger: import not recorded: ${summary.notRecordedReason ?? ''}`);
}
