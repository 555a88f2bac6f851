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
import { ingestBillingFiles, type BillingImportSummary } from '../billing/billing-file.ingest.js';
import { nothingRead, type RunSummary } from '../files/ingest-run.js';
import { ingestRequestFiles } from '../files/requests-file.ingest.js';
import { kafkajsClient } from '../kafka/kafkajs-client.js';
import { produceRequestFiles } from '../kafka/produce-requests.js';
import type { StreamClient } from '../kafka/stream.js';
import { dlqTopicOf, requireTopic, setupTopics } from '../kafka/topics.js';
import { listMigrations, migrate } from '../warehouse/migrate.js';
import { JobRuntime } from '../scheduler/runtime.js';
import { ROLES, runService, type Role } from '../service/run-service.js';
import { pingService, queryService, serviceUrl } from '../service/query-client.js';
import { findRunningService, type ServiceInfo } from '../service/service-discovery.js';
import { evaluateAlerts } from '../alerts/evaluate.js';
import { windowLabel } from '../alerts/explain.js';
import { ACK_REASONS, acknowledge, listAlerts, type AckReason } from '../alerts/store.js';
import { IDLE_POLICIES, type IdlePolicy } from '../report/idle-policy.js';
import { parseMonth } from '../report/month-data.js';
import { fixed } from '../util/decimal.js';
import { runChargebackReport } from '../report/run-report.js';
import { openServiceReader, openWarehouse, type Warehouse } from '../warehouse/warehouse.js';
import { DAY_MS, dayStart, parseDate } from '../util/time.js';

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

/** Stop before any work when a topic the command needs is missing, saying how to create it. */
async function requireTopics(client: StreamClient, topics: readonly string[], brokers: readonly string[]): Promise<void> {
  const admin = await client.admin();
  try {
    for (const topic of topics) await requireTopic(admin, topic, brokers);
  } finally {
    await admin.stop();
  }
}

/** An ISO-8601 date or date-time; a date-time must state its zone, as request timestamps must. */
const isoInstant = (name: string) => (value: string): Date => {
  const dateOnly = /^\d{4}-\d{2}-\d{2}$/.test(value);
  const withZone = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/i.test(value);
  const ms = dateOnly ? parseDate(value) : withZone ? Date.parse(value) : NaN;
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

/** The live service holding the embedded data directory, if any (a server warehouse is shared by design). */
function runningService(config: Config): ServiceInfo | undefined {
  return config.warehouse.url === undefined ? findRunningService(config.warehouse.dataDir) : undefined;
}

async function withWarehouse<T>(config: Config, work: (warehouse: Warehouse) => Promise<T>): Promise<T> {
  const service = runningService(config);
  // The engine would refuse the directory anyway; say why, and what does work. (The same process may open it again.)
  if (service && service.pid !== process.pid) {
    throw new Error(`the data directory ${config.warehouse.dataDir} is held by a running \`inferledger run\` (pid ${service.pid}): stop it first, or query it with \`inferledger sql\``);
  }
  const warehouse = await openWarehouse(config.warehouse);
  try {
    return await work(warehouse);
  } finally {
    await warehouse.close();
  }
}

/**
 * A command that only reads: through the query endpoint of a running service
 * when one holds the embedded data directory (the service migrated it when it
 * started), else the warehouse directly, its schema made current.
 */
async function withReader<T>(config: Config, log: (line: string) => void, work: (warehouse: Warehouse) => Promise<T>): Promise<T> {
  const service = runningService(config);
  const url = service ? serviceUrl(service) : undefined;
  if (service && url !== undefined && await pingService(service)) {
    const reader = openServiceReader(url, config.warehouse.database, config.service.queryPassword ?? '', config.warehouse.requestTimeoutMs);
    try {
      return await work(reader);
    } finally {
      await reader.close();
    }
  }
  return withWarehouse(config, async (warehouse) => {
    await ensureSchema(warehouse, log);
    return work(warehouse);
  });
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
      const today = dayStart(Date.now());
      const to = opts.to ?? new Date(today + DAY_MS);
      const from = opts.from ?? new Date(to.getTime() - config.aws.trailingDays * DAY_MS);
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
    .option('--metrics-host <address>', 'address the metrics endpoint listens on (default 127.0.0.1)')
    .option('--json', 'print the closing summary as JSON')
    .action(async (opts: { topic?: string; group?: string; once?: boolean; metricsPort?: number; metricsHost?: string; json?: boolean }) => {
      const config = configFrom(globals(), { overrides: { kafka: { topic: opts.topic, groupId: opts.group, metricsPort: opts.metricsPort, metricsHost: opts.metricsHost } } });
      const client = streamClient(config, io.err);
      await requireTopics(client, [config.kafka.topic, dlqTopicOf(config.kafka.topic, config.kafka.dlqTopic)], config.kafka.brokers);
      const run = await withWarehouse(config, async (warehouse) => {
        await ensureSchema(warehouse, io.err);
        return runCollector(config, warehouse, client, { once: opts.once === true, log: io.err });
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
      const client = streamClient(config, io.err);
      await requireTopics(client, [config.kafka.topic], config.kafka.brokers);
      const producer = await client.producer();
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

  // Chargeback reports: a month's pack per team or tenant (src/report).
  program
    .command('report')
    .description('reports built from the attributed tables')
    .command('chargeback')
    .description('a month\'s chargeback pack (CSV, summary, FOCUS allocation, HTML) in <out>/<month>/<by>-<idle>-<basis>-<status>/; packs are never overwritten')
    .requiredOption('--month <YYYY-MM>', 'calendar month (UTC)', (value: string) => {
      const month = parseMonth(value);
      if (!month) throw new InvalidArgumentError('--month must be a month as YYYY-MM, e.g. 2026-10');
      return month;
    })
    .addOption(new Option('--by <owner>', 'who pays: team or tenant').choices(['team', 'tenant']).makeOptionMandatory())
    .option('--out <dir>', 'directory of the packs', 'reports')
    .addOption(new Option('--idle <policy>', 'who carries idle GPU cost').choices([...IDLE_POLICIES]).default('spread'))
    .addOption(new Option('--basis <basis>', 'bill column the month was attributed on (default: attribution.costBasis)').choices(['effective', 'billed']))
    .action(async (opts: { month: NonNullable<ReturnType<typeof parseMonth>>; by: 'team' | 'tenant'; out: string; idle: IdlePolicy; basis?: 'effective' | 'billed' }) => {
      const config = configFrom(globals());
      const run = await withReader(config, io.err, (warehouse) =>
        runChargebackReport(warehouse, config, { month: opts.month, by: opts.by, idle: opts.idle, outDir: opts.out, ...(opts.basis ? { basis: opts.basis } : {}) }));
      const { report, pack } = run;
      io.out(pack.written ? `${report.options.month.label}: ${report.status} pack written to ${pack.dir} (${pack.files.join(', ')})` : `${report.options.month.label}: ${pack.dir} already exists; packs are never overwritten`);
      for (const t of report.totals) io.out(`  ${t.currency}: billed ${fixed(t.billed)} = allocated ${fixed(t.allocated)} + idle ${fixed(t.idle)} + unallocated ${fixed(t.unallocated)}`);
      for (const reason of report.statusReasons) io.out(`  estimated: ${reason}`);
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

  // --- The service and its scheduled jobs (BullMQ on Redis) ---
  program
    .command('run')
    .description('the service: Kafka collector, job scheduler and worker (all, the default: one process on the embedded warehouse), or one role per process against a ClickHouse server')
    .addOption(new Option('--role <role>', 'what this process runs').choices([...ROLES]).default('all'))
    .option('--port <n>', 'serve /metrics and /healthz on 127.0.0.1 at this port (0: any free port; env INFERLEDGER_SERVICE_PORT)', nonNegativeInt('--port'))
    .option('--query-port <n>', 'answer read-only ClickHouse HTTP queries at this port (role all, embedded warehouse; 0: off; env INFERLEDGER_QUERY_PORT, default 8124)', nonNegativeInt('--query-port'))
    .option('--dashboard-port <n>', 'serve the bull-board queue dashboard at this port (0: off, the default; env INFERLEDGER_DASHBOARD_PORT)', nonNegativeInt('--dashboard-port'))
    .action(async (opts: { role: Role; port?: number; queryPort?: number; dashboardPort?: number }) => {
      const config = configFrom(globals(), { overrides: { jobs: { port: opts.port }, service: { queryPort: opts.queryPort, dashboardPort: opts.dashboardPort } } });
      const stop = new Promise<string>((resolveStop) => {
        process.once('SIGTERM', () => { resolveStop('SIGTERM'); });
        process.once('SIGINT', () => { resolveStop('SIGINT'); });
      });
      // Whatever hangs (a client retrying an unreachable server), the process ends shortly after the grace period.
      void stop.then(() => { setTimeout(() => { process.exit(EXIT.failed); }, config.jobs.shutdownGraceMs + 3_000).unref(); });
      const holder = opts.role === 'scheduler' ? undefined : runningService(config);
      if (holder && holder.pid !== process.pid) throw new Error(`the data directory ${config.warehouse.dataDir} is already held by a running \`inferledger run\` (pid ${holder.pid})`);
      const warehouse = opts.role === 'scheduler' ? undefined : await openWarehouse(config.warehouse);
      let clean = false;
      try {
        if (warehouse) await ensureSchema(warehouse, io.err);
        io.err(`inferledger run --role ${opts.role}: ${warehouse ? `${warehouse.backend} warehouse, database ${warehouse.database}; ` : ''}redis ${redactConfig(config).redis.url}, queues under prefix ${config.jobs.prefix}`);
        const run = await runService({ role: opts.role, config, warehouse, streamClient: () => streamClient(config, io.err), log: io.err, stop });
        clean = run.clean;
      } finally {
        await Promise.race([warehouse?.close(), new Promise((r) => { setTimeout(r, 2_000).unref(); })]);
      }
      if (!clean) io.setExitCode(EXIT.failed);
      // A client that lost its server may keep a reconnect timer alive: do not wait for it.
      setTimeout(() => { process.exit(clean ? EXIT.ok : EXIT.failed); }, 1_000).unref();
    });

  const jobsCommand = program.command('jobs').description('scheduled jobs: what ran, what is owed, run or retry one (needs only Redis)');
  const withRuntime = async <T>(work: (runtime: JobRuntime, config: Config) => Promise<T>): Promise<T> => {
    const config = configFrom(globals());
    const runtime = new JobRuntime({ config, log: io.err, failFast: true });
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
      const day = (d: Date): string => d.toISOString().slice(0, 10);
      const window = opts.from && opts.to ? { from: day(opts.from), to: day(new Date(Math.ceil(opts.to.getTime() / DAY_MS) * DAY_MS)) } : {};
      await withRuntime(async (runtime) => {
        const id = await runtime.runNow(name, window).catch((err: unknown) => { throw new InvalidArgumentError((err as Error).message); });
        io.out(`enqueued ${name} as job ${id}; a running worker takes it (see \`inferledger jobs list\`)`);
      });
    });
  jobsCommand
    .command('retry')
    .description('retry a failed job by id, or every failed job of a name')
    .argument('<name-or-id>', 'job name (e.g. attribute-day) or job id')
    .action(async (nameOrId: string) => {
      await withRuntime(async (runtime) => {
        const ids = await runtime.retry(nameOrId).catch((err: unknown) => { throw new InvalidArgumentError((err as Error).message); });
        io.out(ids.length > 0 ? `retrying ${ids.join(', ')}` : `no failed ${nameOrId} jobs`);
      });
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
      const config = configFrom(globals());
      const print = (text: string): void => { if (text.length > 0) io.out(text.trimEnd()); };
      // A running service holds the embedded data directory: its query endpoint answers instead, read-only.
      const service = runningService(config);
      if (service && (service.port === null || await pingService(service))) {
        if (opts.write === true) throw new InvalidArgumentError(`--write is refused: the data directory ${config.warehouse.dataDir} is held by a running \`inferledger run\` (pid ${service.pid}), which answers read-only queries only; stop it to write`);
        print(await queryService(service, { sql, params: opts.param ?? {}, format: formats[opts.format], database: config.warehouse.database, password: config.service.queryPassword, timeoutMs: config.warehouse.requestTimeoutMs }));
        return;
      }
      await withWarehouse(config, async (warehouse) => {
        const { stream } = await warehouse.analystQuery(sql, opts.param ?? {}, { format: formats[opts.format], allowWrites: opts.write === true, limits: config.queries });
        let text = '';
        for await (const chunk of stream) text += String(chunk);
        print(text);
      });
    });

  // CPP regression alerts: wiring only (src/alerts does the work).
  const alerts = program.command('alerts').description('CPP regression and budget alerts: evaluate, list, acknowledge');
  alerts
    .command('evaluate')
    .description('judge complete days against their baseline; open, update and resolve alerts; notify on open, budget escalation and resolve')
    .option('--day <date>', 'one UTC day (YYYY-MM-DD); default: every complete day not yet evaluated in alerts.lookbackDays')
    .option('--no-notify', 'do not send webhooks')
    .option('--json', 'print the result as JSON')
    .action(async (opts: { day?: string; notify: boolean; json?: boolean }) => {
      if (opts.day !== undefined && !/^\d{4}-\d{2}-\d{2}$/.test(opts.day)) throw new InvalidArgumentError('--day must be a UTC day, YYYY-MM-DD');
      const config = configFrom(globals());
      const result = await withWarehouse(config, async (warehouse) => {
        await ensureSchema(warehouse, io.err);
        return evaluateAlerts(warehouse, config, { day: opts.day, notify: opts.notify });
      });
      if (opts.json === true) {
        io.out(JSON.stringify(result));
        return;
      }
      for (const d of result.days) {
        const budgets = d.budgetsSkipped !== undefined
          ? `; budgets skipped: ${d.budgetsSkipped}`
          : d.budgets > 0 ? `; ${d.budgets} budgets, ${d.budgetsFiring} forecast at warning level or over` : '';
        const judged = `${d.keys} keys, ${d.firing} over threshold${budgets}${d.estimated ? ' (billing estimated)' : ''}`;
        if (d.status === 'waiting') io.out(`${d.day}: waiting: ${d.reason ?? ''}`);
        else if (d.status === 'partial') io.out(`${windowLabel(d.day, d.hours)}: ${judged}; the day waits: ${d.reason ?? ''}`);
        else io.out(`${d.day}: ${judged}`);
      }
      for (const t of result.transitions.filter((x) => x.transition !== 'updated')) {
        const what = t.alert.metric === 'budget' ? `budget, ${t.alert.level}` : `${t.alert.metric} CPP, dominant factor: ${t.alert.dominant_factor}`;
        io.out(`\n${t.transition.toUpperCase()} alert ${t.alert.alert_id} (${what})\n${t.alert.summary}`);
      }
      for (const d of result.deliveries) {
        const line = `notification ${d.dedupeKey} -> ${d.webhook}: ${d.outcome}${d.attempts > 0 ? ` after ${d.attempts} attempt(s)` : ''}${d.error ? `: ${d.error}` : ''}`;
        if (d.outcome === 'failed') io.err(line);
        else io.out(line);
      }
      if (result.days.length === 0) io.out('nothing to evaluate: no attributed day is owed');
      if (result.deliveries.some((d) => d.outcome === 'failed')) io.setExitCode(EXIT.failed);
    });
  alerts
    .command('list')
    .description('alerts, newest first')
    .option('--open', 'only open alerts')
    .option('--json', 'one JSON line per alert')
    .action(async (opts: { open?: boolean; json?: boolean }) => {
      const rows = await withReader(configFrom(globals()), io.err, (warehouse) => listAlerts(warehouse, opts.open === true));
      for (const r of rows) {
        if (opts.json === true) io.out(JSON.stringify(r));
        else {
          const ack = r.acknowledged ? `, acknowledged (${r.ack_reason})` : '';
          const change = `${r.relative_increase >= 0 ? '+' : ''}${(r.relative_increase * 100).toFixed(0)}%`;
          const what = r.metric === 'budget' ? `budget ${r.level}, forecast ${change} vs budget` : `${r.metric} CPP ${change}  dominant: ${r.dominant_factor}`;
          io.out(`${r.alert_id}  ${r.status}${ack}  ${r.alert_key}  ${r.opened_day}..${r.last_day}  ${what}`);
          io.out(`  ${r.summary.split('\n').join('\n  ')}`);
        }
      }
      if (rows.length === 0 && opts.json !== true) io.out(opts.open === true ? 'no open alerts' : 'no alerts');
    });
  alerts
    .command('ack')
    .description('acknowledge an alert (it still updates and resolves)')
    .argument('<id>', 'alert id')
    .addOption(new Option('--reason <reason>', 'why it is fine').choices([...ACK_REASONS]).makeOptionMandatory())
    .action(async (id: string, opts: { reason: AckReason }) => {
      const row = await withWarehouse(configFrom(globals()), async (warehouse) => {
        await ensureSchema(warehouse, io.err);
        return acknowledge(warehouse, id, opts.reason);
      });
      io.out(`acknowledged ${row.alert_id} (${row.alert_key}): ${opts.reason}`);
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
    // InvalidArgumentError is a CommanderError: one thrown by an action (not yet printed) is checked first.
    if (err instanceof InvalidArgumentError) {
      io.err(`inferledger: ${err.message}`);
      return EXIT.usage;
    }
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
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
