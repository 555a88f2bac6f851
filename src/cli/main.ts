/**
 * The `inferledger` command line. Each command parses its flags, loads the one
 * configuration, opens the warehouse, and calls into the module that does the
 * work; nothing here knows SQL or file formats.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { z } from 'zod';
import { ConfigError, loadConfig, redactConfig, type Config } from '../config/config.js';
import { attributeWindow } from '../attribution/attribute.js';
import { BILLING_FILE_FORMATS } from '../billing/file-formats.js';
import { runCollector } from '../collector/run-collector.js';
import { collectBilling } from '../cost-explorer/collect-billing.js';
import { costLinesFromFocus } from '../cost-explorer/fixture.js';
import { LocalCostExplorer } from '../cost-explorer/local-endpoint.js';
import { DEMO_DATABASE, runDemo } from '../demo/demo.js';
import { ingestBillingFiles, type BillingImportSummary } from '../ingest/billing-file.ingest.js';
import { nothingRead, type RunSummary } from '../ingest/ingest-run.js';
import { ingestRequestFiles } from '../ingest/requests-file.ingest.js';
import { kafkajsClient } from '../kafka/kafkajs-client.js';
import { produceRequestFiles } from '../kafka/produce-requests.js';
import type { StreamClient } from '../kafka/stream.js';
import { dlqTopicOf, setupTopics } from '../kafka/topics.js';
import { listMigrations, migrate } from '../warehouse/migrate.js';
import { openWarehouse, type Warehouse } from '../warehouse/warehouse.js';

/** Exit codes: 0 ok, 1 the work failed (e.g. nothing could be read), 2 bad usage or configuration. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

interface GlobalOptions {
  dataDir?: string;
  database?: string;
  config?: string;
}

export interface CliIo {
  out: (line: string) => void;
  err: (line: string) => void;
  /** Environment the configuration is read from; process.env by default. */
  env?: NodeJS.ProcessEnv;
}

const positiveInt = (name: string) => (value: string): number => {
  const parsed = z.coerce.number().int().positive().safeParse(value);
  if (!parsed.success) throw new InvalidArgumentError(`${name} must be a positive integer`);
  return parsed.data;
};

const nonNegativeInt = (name: string) => (value: string): number => {
  const parsed = z.coerce.number().int().min(0).safeParse(value);
  if (!parsed.success) throw new InvalidArgumentError(`${name} must be an integer >= 0`);
  return parsed.data;
};

function streamClient(config: Config, log: (line: string) => void): StreamClient {
  return kafkajsClient({ brokers: config.kafka.brokers, clientId: config.kafka.clientId, log });
}

/** An ISO-8601 date or date-time; a date-time must state its zone, as request timestamps must. */
const isoInstant = (name: string) => (value: string): Date => {
  const dateOnly = /^\d{4}-\d{2}-\d{2}$/.test(value);
  const withZone = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/i.test(value);
  const ms = dateOnly ? Date.parse(`${value}T00:00:00Z`) : withZone ? Date.parse(value) : NaN;
  if (!Number.isFinite(ms)) throw new InvalidArgumentError(`${name} must be an ISO-8601 date (2026-10-01) or date-time with a zone (2026-10-01T00:00:00Z)`);
  return new Date(ms);
};

/** `--param name=value`, repeatable; values are bound as ClickHouse query parameters, never spliced. */
const paramPair = (value: string, previous: Record<string, string> = {}): Record<string, string> => {
  const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(value);
  if (!m) throw new InvalidArgumentError('--param takes name=value, with a plain identifier as name');
  return { ...previous, [m[1] as string]: m[2] as string };
};

function configFrom(globals: GlobalOptions & { env?: NodeJS.ProcessEnv }, overrides: Parameters<typeof loadConfig>[0] = {}): Config {
  return loadConfig({
    file: globals.config,
    ...(globals.env ? { env: globals.env } : {}),
    ...overrides,
    overrides: { ...overrides.overrides, warehouse: { ...overrides.overrides?.warehouse, dataDir: globals.dataDir, database: globals.database } },
  });
}

async function withWarehouse<T>(config: Config, work: (warehouse: Warehouse) => Promise<T>): Promise<T> {
  const warehouse = await openWarehouse(config.warehouse);
  try {
    return await work(warehouse);
  } finally {
    await warehouse.close();
  }
}

/**
 * Ingestion needs the current schema. The embedded warehouse is the user's
 * own, so pending migrations are applied; a server is migrated explicitly.
 */
async function ensureSchema(warehouse: Warehouse, log: (line: string) => void): Promise<void> {
  if (warehouse.backend === 'chdb') {
    const result = await migrate(warehouse);
    if (result.applied.length > 0) log(`applied migrations: ${result.applied.join(', ')}`);
    return;
  }
  const pending = await pendingMigrations(warehouse);
  if (pending.length > 0) throw new Error(`the warehouse schema is not current (pending: ${pending.join(', ')}); run \`inferledger migrate\``);
}

async function pendingMigrations(warehouse: Warehouse): Promise<string[]> {
  const applied = await warehouse
    .query('SELECT name FROM schema_migrations FINAL', {}, z.object({ name: z.string() }))
    .catch(() => []);
  const names = new Set(applied.map((r) => r.name));
  return listMigrations().map((m) => m.name).filter((n) => !names.has(n));
}

/** A file named twice is read once. */
function unique(files: readonly string[]): string[] {
  return [...new Set(files)];
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

/** Bad lines listed on stderr; all of them are in the rejects files and ingest_rejects. */
const BAD_LINES_PRINTED = 50;

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

export function buildProgram(io: CliIo & { setExitCode: (code: number) => void }): Command {
  const program = new Command('inferledger')
    .description('Cost per ML prediction: inference request logs joined with the GPU bill, in ClickHouse')
    .option('--data-dir <dir>', 'embedded warehouse data directory (env INFERLEDGER_DATA_DIR, default ./.inferledger)')
    .option('--database <name>', 'database of the tables (env CLICKHOUSE_DATABASE, default inferledger)')
    .option('--config <file>', 'JSON configuration file (env INFERLEDGER_CONFIG)')
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: (s) => { io.out(s.trimEnd()); }, writeErr: (s) => { io.err(s.trimEnd()); } });
  const globals = (): GlobalOptions & { env?: NodeJS.ProcessEnv } => ({ ...program.opts<GlobalOptions>(), ...(io.env ? { env: io.env } : {}) });

  program
    .command('migrate')
    .description('apply pending schema migrations (safe to run twice, and from two processes at once)')
    .action(async () => {
      await withWarehouse(configFrom(globals()), async (warehouse) => {
        const result = await migrate(warehouse);
        io.out(`${warehouse.backend} warehouse, database ${warehouse.database}: applied ${result.applied.length} (${result.applied.join(', ') || 'none'}), already applied ${result.alreadyApplied.length}`);
      });
    });

  const ingest = program.command('ingest').description('load files into the raw tables');
  ingest
    .command('requests')
    .description('request events from NDJSON files (plain or gzip)')
    .argument('<files...>', 'NDJSON files, one event per line')
    .option('--batch-rows <n>', 'rows per warehouse insert', positiveInt('--batch-rows'))
    .option('--json', 'print the summary as JSON')
    .action(async (files: string[], opts: { batchRows?: number; json?: boolean }) => {
      const config = configFrom(globals(), { overrides: { ingest: { batchRows: opts.batchRows } } });
      const summary = await withWarehouse(config, async (warehouse) => {
        await ensureSchema(warehouse, io.err);
        return ingestRequestFiles(warehouse, unique(files), config.ingest);
      });
      printSummary(summary, opts.json === true, io.out);
      if (nothingRead(summary)) io.setExitCode(EXIT.failed);
    });
  ingest
    .command('billing')
    .description('a billing export (CSV plain or gzip, or Parquet) as one new billing version, all or nothing')
    .argument('<files...>', 'the part files of one export: files, directories of parts, or a glob such as "export/part-*.csv.gz"')
    .addOption(new Option('--format <format>', 'export format').choices(Object.keys(BILLING_FILE_FORMATS)).makeOptionMandatory())
    .option('--pool-tag-key <key>', 'tag whose value names the GPU pool (env INFERLEDGER_POOL_TAG_KEY, default inference-pool)')
    .option('--accept-partial', 'record the import even with bad lines (they are listed and left out of the bill)')
    .option('--json', 'print the summary as JSON')
    .action(async (files: string[], opts: { format: string; poolTagKey?: string; acceptPartial?: boolean; json?: boolean }) => {
      const config = configFrom(globals(), { overrides: { billing: { poolTagKey: opts.poolTagKey } } });
      const format = BILLING_FILE_FORMATS[opts.format];
      if (!format) throw new InvalidArgumentError(`unknown format ${opts.format}`);
      const summary = await withWarehouse(config, async (warehouse) => {
        await ensureSchema(warehouse, io.err);
        return ingestBillingFiles(warehouse, unique(files), {
          format,
          poolTagKey: config.billing.poolTagKey,
          batchRows: config.ingest.batchRows,
          acceptPartial: opts.acceptPartial === true,
          onProgress: (file, written) => { io.err(`  ${file}: ${written} lines written (not visible until the import is recorded)`); },
        });
      });
      if (opts.json === true) io.out(JSON.stringify(summary));
      else printBillingImport(summary, io);
      if (!summary.recorded) io.setExitCode(EXIT.failed);
    });

  program
    .command('attribute')
    .description('attribute billed cost to traffic for every UTC day touching [--from, --to); re-running replaces')
    .requiredOption('--from <time>', 'ISO-8601 start (inclusive), e.g. 2026-10-01 or 2026-10-01T00:00:00Z', isoInstant('--from'))
    .requiredOption('--to <time>', 'ISO-8601 end (exclusive)', isoInstant('--to'))
    .addOption(new Option('--cost-basis <basis>', 'bill column to split (env INFERLEDGER_COST_BASIS)').choices(['effective', 'billed']))
    .option('--json', 'print one JSON line per day')
    .action(async (opts: { from: Date; to: Date; costBasis?: 'effective' | 'billed'; json?: boolean }) => {
      if (opts.to.getTime() <= opts.from.getTime()) throw new InvalidArgumentError('--to must be after --from');
      const config = configFrom(globals(), { overrides: { attribution: { costBasis: opts.costBasis } } });
      await withWarehouse(config, async (warehouse) => {
        await ensureSchema(warehouse, io.err);
        await attributeWindow(warehouse, config.attribution, opts.from, opts.to, (day) => {
          if (opts.json === true) io.out(JSON.stringify(day));
          else io.out(`${day.day}: ${day.rows.cost_allocation} allocation rows, ${day.rows.pool_cost} pool-periods, ${day.rows.cpp_daily} cpp rows (${day.seconds.toFixed(2)} s)`);
        });
      });
    });

  const collect = program.command('collect').description('pull data from its sources into the raw tables');
  collect
    .command('billing')
    .description('GPU cost from AWS Cost Explorer (GetCostAndUsage), whole UTC days; default window: the trailing aws.trailingDays')
    .option('--from <time>', 'ISO-8601 start day (inclusive)', isoInstant('--from'))
    .option('--to <time>', 'ISO-8601 end (exclusive); default: the end of today', isoInstant('--to'))
    .option('--refresh', 'pull final days again too (estimated days are always pulled again)')
    .option('--json', 'print the summary as JSON')
    .action(async (opts: { from?: Date; to?: Date; refresh?: boolean; json?: boolean }) => {
      const config = configFrom(globals());
      const today = Math.floor(Date.now() / 86_400_000) * 86_400_000;
      const to = opts.to ?? new Date(today + 86_400_000);
      const from = opts.from ?? new Date(to.getTime() - config.aws.trailingDays * 86_400_000);
      if (to.getTime() <= from.getTime()) throw new InvalidArgumentError('--to must be after --from');
      const summary = await withWarehouse(config, async (warehouse) => {
        await ensureSchema(warehouse, io.err);
        return collectBilling(warehouse, config, { from, to, refresh: opts.refresh === true }, io.err);
      });
      if (opts.json === true) {
        io.out(JSON.stringify(summary));
        return;
      }
      for (const a of summary.accounts) {
        io.out(
          `${a.account}: ${a.periods} periods, ${a.rows} rows written (${a.daysPulled} days new or restated, ${a.daysUnchanged} unchanged, ` +
            `${a.daysSkippedFinal} final and skipped), ${a.pages} pages, ${a.paidCalls} paid calls = $${a.costUsd}`,
        );
      }
    });

  collect
    .command('requests')
    .description('request events from the Kafka topic into inference_requests (consumer group; invalid messages to <topic>.dlq)')
    .option('--topic <name>', 'topic to consume (env KAFKA_TOPIC, default inference-requests)')
    .option('--group <id>', 'consumer group (env KAFKA_GROUP_ID, default inferledger-collector)')
    .option('--once', 'stop once caught up with the partition ends seen at start (backfills, tests)')
    .option('--metrics-port <n>', 'serve /metrics and /healthz on this port (0: any free port)', nonNegativeInt('--metrics-port'))
    .option('--json', 'print the closing summary as JSON')
    .action(async (opts: { topic?: string; group?: string; once?: boolean; metricsPort?: number; json?: boolean }) => {
      const config = configFrom(globals(), { overrides: { kafka: { topic: opts.topic, groupId: opts.group, metricsPort: opts.metricsPort } } });
      const run = await withWarehouse(config, async (warehouse) => {
        await ensureSchema(warehouse, io.err);
        return runCollector(config, warehouse, streamClient(config, io.err), { once: opts.once === true, log: io.err });
      });
      const { stats } = run;
      if (opts.json === true) io.out(JSON.stringify({ ...stats, clean: run.clean, reason: run.reason }));
      else io.out(`${config.kafka.topic}: ${stats.messages} messages, ${stats.written} rows written, ${stats.duplicates} duplicate, ${stats.deadLettered} dead-lettered to ${dlqTopicOf(config.kafka.topic, config.kafka.dlqTopic)}, ${stats.commits} commits (${run.reason})`);
      if (!run.clean) io.setExitCode(EXIT.failed);
    });

  program
    .command('produce')
    .description('send data to Kafka, as the services that emit it would')
    .command('requests')
    .description('NDJSON request events (plain or gzip) to the topic, one message per line, keyed by request_id')
    .argument('<files...>', 'NDJSON files')
    .option('--topic <name>', 'topic (env KAFKA_TOPIC, default inference-requests)')
    .option('--json', 'print the summary as JSON')
    .action(async (files: string[], opts: { topic?: string; json?: boolean }) => {
      const config = configFrom(globals(), { overrides: { kafka: { topic: opts.topic } } });
      const producer = await streamClient(config, io.err).producer();
      try {
        const summary = await produceRequestFiles(producer, config.kafka.topic, unique(files));
        if (opts.json === true) io.out(JSON.stringify(summary));
        else io.out(`${config.kafka.topic}: ${summary.messages} messages (${summary.bytes} bytes) from ${summary.files} file(s)${summary.unreadable > 0 ? `, ${summary.unreadable} unreadable line(s) not sent` : ''}`);
      } finally {
        await producer.stop();
      }
    });

  program
    .command('kafka')
    .description('Kafka set-up')
    .command('setup')
    .description('create the request topic and its dead-letter topic unless they exist')
    .option('--topic <name>', 'topic (env KAFKA_TOPIC, default inference-requests)')
    .option('--partitions <n>', 'partitions of a new topic (default 6)', positiveInt('--partitions'))
    .action(async (opts: { topic?: string; partitions?: number }) => {
      const config = configFrom(globals(), { overrides: { kafka: { topic: opts.topic } } });
      const admin = await streamClient(config, io.err).admin();
      try {
        const created = await setupTopics(admin, { topic: config.kafka.topic, dlqTopic: config.kafka.dlqTopic, partitions: opts.partitions ?? 6 });
        io.out(created.length > 0 ? `created ${created.join(', ')}` : 'topics already exist');
      } finally {
        await admin.stop();
      }
    });

  program
    .command('local-cost-explorer')
    .description('serve a FOCUS CSV export through the Cost Explorer API on localhost, for trying `collect billing` without AWS')
    .requiredOption('--fixture <file>', 'hourly FOCUS CSV export to serve')
    .option('--port <n>', 'port (default 4599)', positiveInt('--port'))
    .option('--page-size <n>', 'groups per page', positiveInt('--page-size'))
    .action(async (opts: { fixture: string; port?: number; pageSize?: number }) => {
      const endpoint = new LocalCostExplorer(costLinesFromFocus(opts.fixture), { pageSize: opts.pageSize ?? 500 });
      const url = await endpoint.listen(opts.port ?? 4599);
      io.out(`local Cost Explorer at ${url}: set AWS_ENDPOINT_URL_COST_EXPLORER=${url} (any AWS credentials are accepted); Ctrl-C stops it`);
      await new Promise<void>((resolveStop) => {
        process.once('SIGINT', resolveStop);
        process.once('SIGTERM', resolveStop);
      });
      await endpoint.close();
    });

  program
    .command('demo')
    .description(`a month of realistic traffic and billing, ingested and attributed, with the first numbers to look at (database ${DEMO_DATABASE})`)
    .action(async () => {
      await runDemo(configFrom(globals()), io.out);
    });

  const formats = { table: 'PrettyCompactMonoBlock', json: 'JSONEachRow', csv: 'CSVWithNames' } as const;
  program
    .command('sql')
    .description('run a query on the warehouse; values go in as --param, bound by ClickHouse, e.g. {tenant:String}')
    .argument('[query]', 'SQL; refer to parameters as {name:Type}')
    .option('--file <path>', 'read the query from a file instead')
    .addOption(new Option('--format <format>', 'output format').choices(Object.keys(formats)).default('table'))
    .option('--param <name=value>', 'query parameter (repeatable)', paramPair)
    .option('--write', 'allow statements that change data (read-only otherwise)')
    .action(async (query: string | undefined, opts: { format: keyof typeof formats; param?: Record<string, string>; write?: boolean; file?: string }) => {
      if ((query === undefined) === (opts.file === undefined)) throw new InvalidArgumentError('give either a query or --file, not both');
      const sql = opts.file === undefined ? (query ?? '') : readFileSync(opts.file, 'utf8');
      await withWarehouse(configFrom(globals()), async (warehouse) => {
        const stream = await warehouse.queryText(sql, opts.param ?? {}, formats[opts.format], opts.write === true);
        let text = '';
        for await (const chunk of stream) text += String(chunk);
        if (text.length > 0) io.out(text.trimEnd());
      });
    });

  const configCommand = program.command('config').description('configuration');
  configCommand
    .command('check')
    .description('validate the configuration from every source, list every problem, and exit')
    .action(() => {
      const config = configFrom(globals());
      io.out(JSON.stringify(redactConfig(config), null, 2));
      io.out('configuration is valid');
    });

  return program;
}

/** Run the CLI; resolves to the process exit code. */
export async function main(argv: readonly string[], io: CliIo = defaultIo()): Promise<number> {
  let exitCode: number = EXIT.ok;
  const program = buildProgram({ ...io, setExitCode: (code) => { exitCode = code; } });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    if (err instanceof InvalidArgumentError) {
      io.err(`inferledger: ${err.message}`);
      return EXIT.usage;
    }
    if (err instanceof ConfigError) {
      io.err(err.message);
      return EXIT.usage;
    }
    io.err(`inferledger: ${(err as Error).message}`);
    return EXIT.failed;
  }
}

function defaultIo(): CliIo {
  return { out: (line) => process.stdout.write(`${line}\n`), err: (line) => process.stderr.write(`${line}\n`) };
}
