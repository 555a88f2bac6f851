/**
 * The one configuration module: a zod schema grouped by component, parsed once
 * at start-up into real types. Sources, lowest precedence first: built-in
 * defaults, an optional JSON file (`--config` / INFERLEDGER_CONFIG), environment
 * variables, then command-line flags. Every problem is reported at once.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { reservedOwnerReason } from '../util/reserved-owners.js';
import { isUtcDay, UTC_DAY } from '../util/time.js';

const nonEmpty = z.string().trim().min(1);
/** A team name: not the owner name of a report's idle or untagged line. */
const teamName = nonEmpty.superRefine((name, ctx) => {
  const reason = reservedOwnerReason(name);
  if (reason !== undefined) ctx.addIssue({ code: 'custom', message: reason });
});
const positiveInt = z.coerce.number().int().positive();
const weightBasis = z.enum(['gpu_ms', 'tokens', 'requests']);
const cron = z.string().regex(/^\S+( \S+){4,5}$/, 'must be a cron pattern of 5 or 6 fields');
const tagKey = z.string().trim().min(1).max(128).regex(/^[^$]+$/, 'must not contain "$"');

export const configSchema = z.object({
  warehouse: z.object({
    /** ClickHouse server over HTTP, e.g. http://localhost:8123. Unset: embedded chDB. */
    url: z.url({ protocol: /^https?$/ }).optional(),
    user: nonEmpty.default('default'),
    password: z.string().default(''),
    /** Database holding every inferledger table, on either backend. */
    database: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'must be a plain identifier').default('inferledger'),
    /** chDB data directory; one per process. Default ./.inferledger */
    dataDir: nonEmpty.default('./.inferledger'),
    requestTimeoutMs: positiveInt.default(300_000),
  }).strict().prefault({}),
  ingest: z.object({
    /** Rows per warehouse insert. Larger batches hold more memory (the engine's most of all: ~600 MB peak at 50k, ~480 MB at 20k) for no faster ingestion (bench/ingest-file). */
    batchRows: positiveInt.max(1_000_000).default(20_000),
    /** A line longer than this is rejected unread (protects memory from a runaway line). */
    maxLineBytes: positiveInt.default(256 * 1024),
    /** Threads that parse and validate request events (files and Kafka); one less than the cores when unset. */
    parserThreads: positiveInt.max(64).optional(),
    /** A second copy of a request id within this many hours of the first copy's hour (any hour or pool) is a duplicate, or a conflict when its content differs (files and Kafka). */
    duplicateHorizonHours: z.coerce.number().int().min(0).max(8784).default(48),
  }).strict().prefault({}),
  billing: z.object({
    /** Cost-allocation tag whose value names the GPU pool a billing row belongs to. */
    poolTagKey: tagKey.default('inference-pool'),
  }).strict().prefault({}),
  attribution: z.object({
    /** Which bill column is split: FOCUS EffectiveCost (amortized; what chargeback uses) or BilledCost. */
    costBasis: z.enum(['effective', 'billed']).default('effective'),
    /** What a pool's cost is split by, unless the pool says otherwise. */
    weightBasis: weightBasis.default('gpu_ms'),
    /** Per-pool settings, keyed by pool id. */
    pools: z.record(z.string().min(1), z.object({
      weightBasis: weightBasis.optional(),
      /** GPUs per billed instance, when the catalog does not know the instance type (or is wrong for it). */
      gpusPerInstance: z.number().int().positive().optional(),
      /** Team that owns the pool: carries its idle cost in chargeback reports built with `--idle owner`. */
      owner: teamName.optional(),
    }).strict()).default({}),
    /** Team of a feature, for events without a team. */
    featureTeams: z.record(z.string().min(1), teamName).default({}),
    /** Team of a model, for events without a team and features without a mapping. */
    modelTeams: z.record(z.string().min(1), teamName).default({}),
  }).strict().prefault({}),
  aws: z.object({
    region: nonEmpty.default('us-east-1'),
    /** Cost Explorer endpoint override (a local endpoint, a proxy); else AWS_ENDPOINT_URL_COST_EXPLORER / AWS_ENDPOINT_URL, else AWS. */
    endpoint: z.url({ protocol: /^https?$/ }).optional(),
    /** Cost metric pulled for allocation; UnblendedCost is pulled alongside as the billed cost. */
    costMetric: z.enum(['AmortizedCost', 'UnblendedCost', 'NetAmortizedCost']).default('AmortizedCost'),
    /** HOURLY for days within the last 14 (needs hourly data enabled in Cost Explorer), DAILY otherwise; or force one. */
    granularity: z.enum(['auto', 'HOURLY', 'DAILY']).default('auto'),
    /** The second GroupBy (the pool tag is the first): INSTANCE_TYPE sizes GPU capacity. */
    groupBy: z.array(z.enum(['INSTANCE_TYPE', 'LINKED_ACCOUNT', 'SERVICE', 'REGION'])).max(1, 'Cost Explorer allows two GroupBy keys: the pool tag and one more').default(['INSTANCE_TYPE']),
    /** A Cost Explorer Filter expression (e.g. linked accounts, services), passed as given. */
    filter: z.record(z.string(), z.unknown()).optional(),
    /** Most paid calls (pages, $0.01 each) one run may make. */
    maxPagesPerRun: positiveInt.default(100),
    /** Days pulled by a run without --from/--to, ending today. */
    trailingDays: positiveInt.max(366).default(14),
    requestTimeoutMs: positiveInt.default(30_000),
    /** Accounts collected one by one; each needs credentials in the default chain (or a profile). Empty: the caller's account. */
    accounts: z.array(z.object({ id: nonEmpty, profile: nonEmpty.optional() }).strict()).default([]),
  }).strict().prefault({}),
  kafka: z.object({
    brokers: z.array(z.string().regex(/^[^\s:,]+:\d{1,5}$/, 'must be host:port')).min(1).default(['localhost:9092']),
    topic: nonEmpty.default('inference-requests'),
    groupId: nonEmpty.default('inferledger-collector'),
    /** Dead-letter topic for invalid messages; empty means `<topic>.dlq`. */
    dlqTopic: z.string().default(''),
    clientId: nonEmpty.default('inferledger'),
    /** A partition's batch is written when it holds this many rows... */
    batchRows: positiveInt.max(1_000_000).default(20_000),
    /** ...or this many bytes of rows... */
    batchBytes: positiveInt.default(16 * 1024 * 1024),
    /** ...or its oldest row has waited this long. */
    batchAgeMs: positiveInt.default(1000),
    /** Larger messages are dead-lettered unread (same bound as a file line). */
    maxMessageBytes: positiveInt.default(256 * 1024),
    /** Partitions whose batches are handled at once (parsing is on one thread; this only overlaps waits). */
    partitionsConcurrently: positiveInt.max(64).default(3),
    sessionTimeoutMs: positiveInt.min(6000).default(30_000),
    /** Port of /metrics and /healthz; 0 picks a free one, omitted turns the endpoint off. */
    metricsPort: z.coerce.number().int().min(0).max(65_535).optional(),
    /** Address /metrics and /healthz listen on: loopback unless asked (e.g. 0.0.0.0 for a scraper on another host). */
    metricsHost: z.union([z.ipv4(), z.ipv6(), z.hostname()], { error: 'must be an IP address or a host name' }).default('127.0.0.1'),
    /** /healthz fails when the fetch loop or the writes have made no progress for this long. */
    stuckAfterMs: positiveInt.default(60_000),
    /** On SIGTERM, give up flushing after this long (what was not written is not committed). */
    shutdownTimeoutMs: positiveInt.default(25_000),
    /** Backoff of warehouse and dead-letter retries: first wait and cap. */
    retryMinMs: positiveInt.default(250),
    retryMaxMs: positiveInt.default(30_000),
  }).strict().refine((k) => k.retryMinMs <= k.retryMaxMs, { message: 'retryMinMs must not exceed retryMaxMs', path: ['retryMinMs'] }).prefault({}),
  redis: z.object({
    url: z.url({ protocol: /^rediss?$/ }).default('redis://127.0.0.1:6379'),
  }).strict().prefault({}),
  // Scheduled jobs and the `run` service (BullMQ on Redis).
  jobs: z.object({
    /** Key prefix of every queue in Redis, so two deployments (or tests) can share one Redis. */
    prefix: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1-64 letters, digits, _ . or -').default('inferledger'),
    /** First UTC day the billing pull and attribution look at (YYYY-MM-DD); default: the first day of the previous month. */
    billingStart: z.string().regex(UTC_DAY, 'must be a UTC day, YYYY-MM-DD').refine(isUtcDay, 'is not a calendar day').optional(),
    /** Pull Cost Explorer on schedule; turn off when the bill arrives as files only. */
    billingPull: z.boolean().default(true),
    /** Jobs one worker runs at once. */
    concurrency: positiveInt.max(16).default(1),
    /** Attempts of a job that fails with a transient error (exponential backoff with jitter between them). */
    attempts: positiveInt.max(50).default(5),
    /** First backoff delay; doubled on each attempt, with jitter. */
    backoffMs: positiveInt.default(5_000),
    /** On SIGTERM: how long the running job may take to finish before it is handed back and the process exits. */
    shutdownGraceMs: positiveInt.default(20_000),
    /** A day being attributed is locked in Redis for this long, renewed while it runs (a killed worker's lock expires). */
    dayLockMs: positiveInt.min(1000).default(60_000),
    /** Port of /metrics and /healthz of `run`; 0 picks a free one, omitted turns it off. */
    port: z.coerce.number().int().min(0).max(65_535).optional(),
    /** Address the service's HTTP endpoints listen on. */
    host: nonEmpty.default('127.0.0.1'),
    /** Cron patterns (UTC; 5 fields, or 6 with seconds) replacing a job's default schedule. */
    schedules: z.object({
      'billing-pull': cron.optional(),
      attribute: cron.optional(),
      'alerts-evaluate': cron.optional(),
      'report-chargeback': cron.optional(),
    }).strict().default({}),
  }).strict().prefault({}),
  // What `inferledger run` serves beside its work: analysts' read-only queries and the queue dashboard.
  service: z.object({
    /** Port of the read-only ClickHouse HTTP interface of `run` on the embedded warehouse; 0 turns it off. */
    queryPort: z.coerce.number().int().min(0).max(65_535).default(8124),
    /** Address it listens on: loopback unless asked. */
    queryHost: z.union([z.ipv4(), z.ipv6(), z.hostname()], { error: 'must be an IP address or a host name' }).default('127.0.0.1'),
    /** When set, queries must carry it (HTTP basic auth, X-ClickHouse-Key or the password parameter); any user name. */
    queryPassword: z.string().optional(),
    /** Port of the bull-board queue dashboard; 0 (the default) turns it off. */
    dashboardPort: z.coerce.number().int().min(0).max(65_535).default(0),
    /** Address the dashboard listens on: loopback unless asked (it can retry and delete jobs). */
    dashboardHost: z.union([z.ipv4(), z.ipv6(), z.hostname()], { error: 'must be an IP address or a host name' }).default('127.0.0.1'),
  }).strict().prefault({}),
  // Analysts' read-only queries (`inferledger sql` and the query endpoint of `run`): the limits each runs under, and who may send them.
  queries: z.object({
    /** Memory one query may use (bytes); the engine stops it beyond. */
    maxMemoryBytes: z.coerce.number().int().positive().default(2 * 1024 ** 3),
    /** Time one query may run (seconds); the engine stops it beyond. */
    maxExecutionSeconds: z.coerce.number().int().positive().default(120),
    /** Threads one query may use; default half the machine's cores, at least 1, so ingestion and jobs keep theirs. */
    maxThreads: z.coerce.number().int().positive().default(() => Math.max(1, Math.floor(availableParallelism() / 2))),
    /** Rows a result may have; 0: no limit (results are streamed, not held). */
    maxResultRows: z.coerce.number().int().min(0).default(0),
    /** Bytes a result may have before the engine stops it (4 GiB); 0: no limit. */
    maxResultBytes: z.coerce.number().int().min(0).default(4 * 1024 ** 3),
    /** Bytes a result held whole may have (512 MiB): formats that do not stream (JSON, *WithNames, Pretty, Parquet) and queries with bound values. */
    maxBufferedResultBytes: z.coerce.number().int().positive().default(512 * 1024 ** 2),
    /** Queries the endpoint runs at once; more wait in line. */
    concurrency: positiveInt.max(64).default(4),
    /** How long a query may wait in line before it is refused (ms). */
    queueTimeoutMs: positiveInt.default(30_000),
    /** Browser origins (e.g. https://grafana.example.com) whose pages may send queries; requests from any other page are refused. */
    allowedOrigins: z.array(z.url()).default([]),
    /** Host names the endpoint answers to besides IP addresses and localhost (DNS rebinding protection). */
    allowedHosts: z.array(z.hostname()).default([]),
  }).strict().prefault({}),
  // Chargeback packs the scheduled report-chargeback job builds (src/report).
  report: z.object({
    /** Directory the scheduled packs are written to (<outDir>/<month>/...). */
    outDir: nonEmpty.default('reports'),
    /** The packs built for each month: one per (by, idle). Empty: the job builds none. */
    scheduled: z.array(z.object({
      by: z.enum(['team', 'tenant']),
      idle: z.enum(['spread', 'separate', 'owner']).default('spread'),
    }).strict().refine((p) => !(p.by === 'tenant' && p.idle === 'owner'), { message: 'idle owner gives idle cost to the team owning a pool: not with by tenant', path: ['idle'] }))
      .max(6)
      .refine((list) => new Set(list.map((p) => `${p.by}/${p.idle}`)).size === list.length, 'each (by, idle) pack once')
      .default([{ by: 'team', idle: 'spread' }]),
  }).strict().prefault({}),
  // CPP regression alerts (src/alerts). Defaults are documented in README "Alerts".
  alerts: z.object({
    /** One key per (model, feature, tenant) instead of (model, feature). */
    byTenant: z.boolean().default(false),
    /** Opens when CPP is at least this much above the baseline (0.25 = +25%)... */
    relativeIncrease: z.number().positive().default(0.25),
    /** ...and at least this much per prediction above it (currency units)... */
    minAbsoluteIncrease: z.number().min(0).default(0),
    /** ...and the increase costs at least this much per day at the day's traffic... */
    minExtraDailyCost: z.number().min(0).default(10),
    /** ...and the day and the baseline day each had at least this many requests... */
    minRequests: positiveInt.default(1000),
    /** ...and the change is this many robust spreads (1.4826 x MAD of the baseline days) above the median. */
    minRobustZ: z.number().min(0).default(3),
    /** Comparable days in the baseline, most recent first. */
    baselineDays: positiveInt.max(28).default(7),
    /** Fewer comparable days than this: the key is not judged yet. */
    minBaselineDays: positiveInt.default(3),
    /** Which days are comparable: same day type (weekday / weekend), same weekday, or any. */
    comparable: z.enum(['daytype', 'weekday', 'any']).default('daytype'),
    /** An open alert resolves after this many evaluated days in a row under resolveBelow. */
    resolveBelow: z.number().min(0).default(0.1),
    resolveAfterWindows: positiveInt.max(30).default(2),
    /** A day's traffic has settled when its last request was ingested this long ago... */
    settleMinutes: positiveInt.default(60),
    /** ...or the day ended this long ago (a backfill). */
    completeAfterHours: positiveInt.default(30),
    /**
     * The current day (and the one before it, while it is not complete) is judged hour by hour
     * once this many of its first hours are complete: billed, attributed and settled. 0 turns it off.
     */
    intradayMinHours: z.number().int().min(0).max(23).default(6),
    /** Without --day: days evaluated at most this far back. */
    lookbackDays: positiveInt.max(400).default(45),
    webhooks: z.array(z.object({
      /** Printed in logs and recorded with deliveries; the URL never is. */
      name: z.string().trim().min(1).max(64),
      url: z.url({ protocol: /^https?$/ }),
      /** slack: a Slack-compatible incoming webhook ({text}); json: the whole alert. */
      kind: z.enum(['slack', 'json']).default('json'),
    }).strict()).default([]),
    /**
     * Monthly budgets per team or tenant, in one currency each; watched by forecast
     * (month to date + run rate x days left) on the days alerts evaluate.
     */
    budgets: z.array(z.object({
      by: z.enum(['team', 'tenant']),
      /** The team or tenant as attribution records it (cost_allocation.team / tenant_id). */
      owner: z.string().trim().min(1).max(256),
      /** Amount per calendar month, exact decimal text, e.g. "12000.00". */
      monthly: z.string().regex(/^\d{1,26}(\.\d{1,12})?$/, 'must be a decimal amount as text, e.g. "12000.00"')
        .refine((v) => /[1-9]/.test(v), 'must be above 0'),
      /** ISO 4217 code; only cost in this currency counts against the budget. */
      currency: z.string().regex(/^[A-Z]{3}$/, 'must be a currency code such as USD'),
      /** Also open (at level warning) when the forecast reaches this share of the budget. */
      warnAt: z.number().gt(0).lt(1).optional(),
      /** An open budget alert resolves when the forecast falls under this share of the budget. Default: 0.05 under the opening threshold. */
      resolveBelow: z.number().gt(0).optional(),
    }).strict().refine((b) => b.resolveBelow === undefined || b.resolveBelow < (b.warnAt ?? 1), {
      message: 'resolveBelow must be below warnAt (or 1 without warnAt)', path: ['resolveBelow'],
    })).default([]),
    /** Delivery retries with exponential backoff, from retryMinMs. */
    retries: z.number().int().min(0).max(10).default(4),
    retryMinMs: positiveInt.default(500),
    timeoutMs: positiveInt.default(10_000),
  }).strict().refine((a) => a.resolveBelow < a.relativeIncrease, { message: 'resolveBelow must be below relativeIncrease', path: ['resolveBelow'] })
    .refine((a) => a.minBaselineDays <= a.baselineDays, { message: 'minBaselineDays must not exceed baselineDays', path: ['minBaselineDays'] })
    .refine((a) => new Set(a.webhooks.map((w) => w.name)).size === a.webhooks.length, { message: 'webhook names must be unique', path: ['webhooks'] })
    .refine((a) => new Set(a.budgets.map((b) => JSON.stringify([b.by, b.owner, b.currency]))).size === a.budgets.length, {
      message: 'one budget per (by, owner, currency)', path: ['budgets'],
    })
    .prefault({}),
}).strict();

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;

/** Environment variable -> config path. Documented in README. */
const ENV_VARS: ReadonlyArray<readonly [string, readonly string[], (v: string) => unknown]> = [
  ['CLICKHOUSE_URL', ['warehouse', 'url'], (v) => v],
  ['CLICKHOUSE_USER', ['warehouse', 'user'], (v) => v],
  ['CLICKHOUSE_PASSWORD', ['warehouse', 'password'], (v) => v],
  ['CLICKHOUSE_DATABASE', ['warehouse', 'database'], (v) => v],
  ['INFERLEDGER_DATA_DIR', ['warehouse', 'dataDir'], (v) => v],
  ['INFERLEDGER_BATCH_ROWS', ['ingest', 'batchRows'], (v) => v],
  ['INFERLEDGER_PARSER_THREADS', ['ingest', 'parserThreads'], (v) => v],
  ['INFERLEDGER_DUPLICATE_HORIZON_HOURS', ['ingest', 'duplicateHorizonHours'], (v) => v],
  ['INFERLEDGER_POOL_TAG_KEY', ['billing', 'poolTagKey'], (v) => v],
  ['INFERLEDGER_COST_BASIS', ['attribution', 'costBasis'], (v) => v],
  ['INFERLEDGER_WEIGHT_BASIS', ['attribution', 'weightBasis'], (v) => v],
  ['AWS_REGION', ['aws', 'region'], (v) => v],
  ['INFERLEDGER_CE_ENDPOINT', ['aws', 'endpoint'], (v) => v],
  ['INFERLEDGER_CE_METRIC', ['aws', 'costMetric'], (v) => v],
  ['KAFKA_BROKERS', ['kafka', 'brokers'], (v) => v.split(',').map((b) => b.trim()).filter(Boolean)],
  ['KAFKA_TOPIC', ['kafka', 'topic'], (v) => v],
  ['KAFKA_GROUP_ID', ['kafka', 'groupId'], (v) => v],
  ['KAFKA_DLQ_TOPIC', ['kafka', 'dlqTopic'], (v) => v],
  ['INFERLEDGER_METRICS_PORT', ['kafka', 'metricsPort'], (v) => v],
  ['INFERLEDGER_METRICS_HOST', ['kafka', 'metricsHost'], (v) => v],
  ['REDIS_URL', ['redis', 'url'], (v) => v],
  ['INFERLEDGER_JOBS_PREFIX', ['jobs', 'prefix'], (v) => v],
  ['INFERLEDGER_BILLING_START', ['jobs', 'billingStart'], (v) => v],
  ['INFERLEDGER_BILLING_PULL', ['jobs', 'billingPull'], (v) => (v === 'true' ? true : v === 'false' ? false : v)],
  ['INFERLEDGER_JOBS_CONCURRENCY', ['jobs', 'concurrency'], (v) => v],
  ['INFERLEDGER_SHUTDOWN_GRACE_MS', ['jobs', 'shutdownGraceMs'], (v) => v],
  ['INFERLEDGER_SERVICE_PORT', ['jobs', 'port'], (v) => v],
  ['INFERLEDGER_SERVICE_HOST', ['jobs', 'host'], (v) => v],
  ['INFERLEDGER_QUERY_PORT', ['service', 'queryPort'], (v) => v],
  ['INFERLEDGER_QUERY_HOST', ['service', 'queryHost'], (v) => v],
  ['INFERLEDGER_QUERY_PASSWORD', ['service', 'queryPassword'], (v) => v],
  ['INFERLEDGER_DASHBOARD_PORT', ['service', 'dashboardPort'], (v) => v],
  ['INFERLEDGER_DASHBOARD_HOST', ['service', 'dashboardHost'], (v) => v],
];

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export interface LoadConfigOptions {
  env?: NodeJS.ProcessEnv;
  /** Path of a JSON config file; defaults to env INFERLEDGER_CONFIG. */
  file?: string | undefined;
  /** Highest-precedence values, typically from command-line flags. */
  overrides?: DeepPartial<ConfigInput>;
}

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? (T[K] extends unknown[] ? T[K] : DeepPartial<T[K]>) : T[K] };

/** Parse configuration from every source, or throw a ConfigError listing every problem. */
export function loadConfig(opts: LoadConfigOptions = {}): Config {
  const env = opts.env ?? process.env;
  const problems: string[] = [];
  const merged: Record<string, Record<string, unknown>> = {};
  // Where each value came from, so an error names the variable the user set.
  const origin = new Map<string, string>();

  const filePath = opts.file ?? env['INFERLEDGER_CONFIG'];
  if (filePath) {
    try {
      const parsed: unknown = JSON.parse(readFileSync(filePath, 'utf8'));
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
        problems.push(`config file ${filePath}: must hold a JSON object`);
      } else {
        for (const [section, values] of Object.entries(parsed as Record<string, unknown>)) {
          merged[section] = values as Record<string, unknown>;
          if (values && typeof values === 'object') {
            for (const key of Object.keys(values)) origin.set(`${section}.${key}`, `config file ${filePath}`);
          }
        }
      }
    } catch (err) {
      problems.push(`config file ${filePath}: ${(err as Error).message}`);
    }
  }

  for (const [name, path, convert] of ENV_VARS) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    const [section, key] = path as [string, string];
    merged[section] = { ...(merged[section] as object | undefined), [key]: convert(raw) };
    origin.set(`${section}.${key}`, `env ${name}`);
  }

  for (const [section, values] of Object.entries(opts.overrides ?? {}) as [string, Record<string, unknown> | undefined][]) {
    for (const [key, value] of Object.entries(values ?? {})) {
      if (value === undefined) continue;
      merged[section] = { ...(merged[section] as object | undefined), [key]: value };
      origin.set(`${section}.${key}`, 'command line');
    }
  }

  const result = configSchema.safeParse(merged);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const path = issue.path.slice(0, 2).join('.');
      const from = origin.get(path);
      problems.push(`${issue.path.join('.') || '(root)'}${from ? ` (from ${from})` : ''}: ${issue.message}`);
    }
  }
  if (problems.length > 0 || !result.success) throw new ConfigError(problems);
  return result.data;
}

/** A printable view of the configuration with secrets masked. */
export function redactConfig(config: Config): Config {
  return {
    ...config,
    warehouse: { ...config.warehouse, url: config.warehouse.url === undefined ? undefined : redactUrl(config.warehouse.url), password: config.warehouse.password ? '***' : '' },
    aws: { ...config.aws, endpoint: config.aws.endpoint === undefined ? undefined : redactUrl(config.aws.endpoint) },
    redis: { ...config.redis, url: redactUrl(config.redis.url) },
    service: { ...config.service, queryPassword: config.service.queryPassword === undefined ? undefined : '***' },
    alerts: { ...config.alerts, webhooks: config.alerts.webhooks.map((w) => ({ ...w, url: redactWebhookUrl(w.url) })) },
  };
}

const SECRET_PARAM = /pass|secret|token|key|auth|credential|signature/i;

/**
 * A URL fit to print: the user-info part (`user:password@`, or a Redis
 * `:password@`) becomes `***@`, and query parameters that look like secrets
 * (`?password=`, `?token=`) are masked. Text that is not a URL is masked the
 * same way by pattern, never printed as it came.
 */
export function redactUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return text.replace(/\/\/[^@/]*@/, '//***@').replace(/([?&][^=&]*(?:pass|secret|token|key|auth)[^=&]*=)[^&]*/gi, '$1***');
  }
  if (url.username !== '' || url.password !== '') {
    url.username = '***';
    url.password = '';
  }
  for (const name of [...url.searchParams.keys()]) if (SECRET_PARAM.test(name)) url.searchParams.set(name, '***');
  return url.toString();
}

/** A webhook URL fit to print: its path and query carry the secret (Slack's /services/T../B../<token>), so only the origin is shown. */
export function redactWebhookUrl(text: string): string {
  try {
    return `${new URL(redactUrl(text)).origin}/***`;
  } catch {
    return '***';
  }
}
