/**
 * The one configuration module: a zod schema grouped by component, parsed once
 * at start-up into real types. Sources, lowest precedence first: built-in
 * defaults, an optional JSON file (`--config` / INFERLEDGER_CONFIG), environment
 * variables, then command-line flags. Every problem is reported at once.
 *
 * Every field carries its documentation as a zod description, and ENV_VARS
 * names its environment variable: config-reference.ts turns both into
 * docs/configuration.md and docs/config.schema.json.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { isDeepStrictEqual } from 'node:util';
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
const port = z.coerce.number().int().min(0).max(65_535);
const listenHost = z.union([z.ipv4(), z.ipv6(), z.hostname()], { error: 'must be an IP address or a host name' });

/** The limits one user may have of their own, replacing the `queries` defaults for them. */
const userLimits = z.object({
  maxMemoryBytes: positiveInt.optional().describe('Memory one of this user\'s queries may use (bytes).'),
  maxExecutionSeconds: positiveInt.optional().describe('Time one of this user\'s queries may run (seconds).'),
  maxResultRows: z.coerce.number().int().min(0).optional().describe('Rows one result may have; 0: no limit.'),
  maxResultBytes: z.coerce.number().int().min(0).optional().describe('Bytes one result may have; 0: no limit.'),
  concurrency: positiveInt.max(64).optional().describe('Queries this user runs at once.'),
  queriesPerMinute: positiveInt.optional().describe('Queries this user may send in any minute.'),
}).strict();

/** Which rows a user sees: all, or those of some teams, or of some tenants. */
const accessScope = z.union([
  z.literal('all'),
  z.object({ teams: z.array(nonEmpty.max(256)).min(1).describe('Teams as attribution records them (the team column).') }).strict(),
  z.object({ tenants: z.array(nonEmpty.max(256)).min(1).describe('Tenants as attribution records them (the tenant_id column).') }).strict(),
], { error: 'must be "all", {"teams": [...]} or {"tenants": [...]}' });

const accessUser = z.object({
  name: z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}$/, 'must be 1-64 letters, digits, and _ . @ - (not starting with . @ -)')
    .describe('The user name clients send (basic auth, X-ClickHouse-User or the user parameter).'),
  password_sha256_hex: z.string().regex(/^[0-9a-fA-F]{64}$/, 'must be the SHA-256 of the password as 64 hex digits (`inferledger access password` prints it)')
    .transform((h) => h.toLowerCase()).describe('SHA-256 of the password in hex, as ClickHouse stores it; never the password itself.'),
  scope: accessScope.describe('"all", {"teams": [...]} or {"tenants": [...]}.'),
  limits: userLimits.prefault({}).describe('Limits of this user\'s own; unset ones are those of `queries`.'),
}).strict();

export const configSchema = z.object({
  warehouse: z.object({
    url: z.url({ protocol: /^https?$/ }).optional().describe('ClickHouse server over HTTP(S), e.g. `http://localhost:8123`. Unset: the embedded chDB engine.'),
    user: nonEmpty.default('default').describe('User on the ClickHouse server.'),
    password: z.string().default('').describe('Password of that user (never printed).'),
    database: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'must be a plain identifier').default('inferledger')
      .describe('Database holding every inferledger table, on either backend.'),
    dataDir: nonEmpty.default('./.inferledger').describe('Data directory of the embedded chDB engine (one per process).'),
    requestTimeoutMs: positiveInt.default(300_000).describe('How long one request to the ClickHouse server may take (ms).'),
  }).strict().prefault({}).describe('Where the tables live: a ClickHouse server, or the embedded chDB engine in a data directory.'),
  ingest: z.object({
    // Measured by bench/ingest-file: larger batches cost memory and gain no speed.
    batchRows: positiveInt.max(1_000_000).default(20_000)
      .describe('Rows per warehouse insert. Larger batches hold more memory (the embedded engine peaks near 600 MB at 50k rows, 480 MB at 20k) for no faster ingestion.'),
    maxLineBytes: positiveInt.default(256 * 1024).describe('A line longer than this is rejected unread (protects memory from a runaway line).'),
    parserThreads: positiveInt.max(64).optional()
      .describe('Threads that parse and validate request events (files and Kafka). Unset: one less than the cores, at least 1.'),
    duplicateHorizonHours: z.coerce.number().int().min(0).max(8784).default(48)
      .describe('A second copy of a request id within this many hours of the first copy\'s hour (any hour or pool) is a duplicate, or a conflict when its content differs (files and Kafka).'),
    // Measured by bench/ingest-file: larger units gain no speed and hold more memory.
    engineUnitBytes: z.coerce.number().int().min(0).max(1 << 30).default(16 << 20)
      .describe('Embedded warehouse: bytes of NDJSON lines the engine parses and checks itself at a time, when it can take a unit whole (the parser threads take the rest); the Kafka collector hands the engine each sealed batch the same way (sized by kafka.batchRows and kafka.batchBytes). 0: the parser threads parse everything, files and Kafka. Ignored on a ClickHouse server.'),
  }).strict().prefault({}).describe('Ingestion of request events from files and Kafka.'),
  retention: z.object({
    requestDays: z.coerce.number().int().min(7).max(36_600).default(90)
      .describe('Days of raw request events (inference_requests) kept: whole months older than this go, once their hourly groups (request_hours, kept forever, what attribution reads) are verified against them. At least 7: late and duplicate requests are checked against the recent raw rows.'),
    rejectDays: z.coerce.number().int().min(1).max(180).default(90)
      .describe('Days of refused lines (ingest_rejects) kept: a reject is worth keeping while it can still be fixed and replayed into a day that has its raw rows, so no longer than requestDays by default; at most 180, the table\'s own TTL.'),
    scheduled: z.boolean().default(true).describe('Whether the `retention` job of `inferledger run` applies this daily (`inferledger retention apply` applies it whenever run).'),
  }).strict().prefault({}).describe('How long raw request events and refused lines are kept; the hourly groups of traffic and everything attribution, billing, alerts and jobs wrote are never trimmed.'),
  billing: z.object({
    poolTagKey: tagKey.default('inference-pool').describe('Cost-allocation tag whose value names the GPU pool a billing row belongs to.'),
  }).strict().prefault({}).describe('Reading the GPU bill.'),
  pricing: z.object({
    settleDays: z.coerce.number().int().min(0).max(90).default(3)
      .describe('Days after a month ends during which its rate-card lines stay estimated (a back-dated change may still come): its chargeback pack is estimated first, final after, with a delta.'),
  }).strict().prefault({}).describe('Rate cards: prices of pools no cloud bills by the hour (`inferledger pricing`).'),
  attribution: z.object({
    costBasis: z.enum(['effective', 'billed']).default('effective')
      .describe('Which bill column is split: FOCUS EffectiveCost (amortized; what chargeback uses) or BilledCost.'),
    weightBasis: weightBasis.default('gpu_ms').describe('What a pool\'s cost is split by, unless the pool says otherwise.'),
    pools: z.record(z.string().min(1), z.object({
      weightBasis: weightBasis.optional().describe('What this pool\'s cost is split by, instead of attribution.weightBasis.'),
      gpusPerInstance: z.number().int().positive().optional()
        .describe('GPUs per billed instance, when the catalog does not know the instance type (or is wrong for it).'),
      owner: teamName.optional().describe('Team that owns the pool: carries its idle cost in chargeback reports built with `--idle owner`.'),
    }).strict()).default({}).describe('Per-pool settings, keyed by pool id.'),
    featureTeams: z.record(z.string().min(1), teamName).default({}).describe('Team of a feature, for events without a team; keyed by feature.'),
    modelTeams: z.record(z.string().min(1), teamName).default({})
      .describe('Team of a model, for events without a team and features without a mapping; keyed by model.'),
  }).strict().prefault({}).describe('How a pool\'s bill is split between its requests, and who owns what.'),
  aws: z.object({
    region: nonEmpty.default('us-east-1').describe('Region of the Cost Explorer API.'),
    endpoint: z.url({ protocol: /^https?$/ }).optional()
      .describe('Cost Explorer endpoint override (a local endpoint, a proxy); else AWS_ENDPOINT_URL_COST_EXPLORER / AWS_ENDPOINT_URL, else AWS.'),
    costMetric: z.enum(['AmortizedCost', 'UnblendedCost', 'NetAmortizedCost']).default('AmortizedCost')
      .describe('Cost metric pulled for allocation; UnblendedCost is pulled alongside as the billed cost.'),
    granularity: z.enum(['auto', 'HOURLY', 'DAILY']).default('auto')
      .describe('auto: HOURLY for days within the last 14 (needs hourly data enabled in Cost Explorer), DAILY otherwise; or force one.'),
    groupBy: z.array(z.enum(['INSTANCE_TYPE', 'LINKED_ACCOUNT', 'SERVICE', 'REGION'])).max(1, 'Cost Explorer allows two GroupBy keys: the pool tag and one more').default(['INSTANCE_TYPE'])
      .describe('The second GroupBy key (the pool tag is the first): INSTANCE_TYPE sizes GPU capacity.'),
    filter: z.record(z.string(), z.unknown()).optional().describe('A Cost Explorer Filter expression (e.g. linked accounts, services), passed as given.'),
    maxPagesPerRun: positiveInt.default(100).describe('Most paid calls (pages, $0.01 each) one run may make.'),
    trailingDays: positiveInt.max(366).default(14).describe('Days pulled by a run without --from/--to, ending today.'),
    requestTimeoutMs: positiveInt.default(30_000).describe('How long one Cost Explorer call may take (ms).'),
    accounts: z.array(z.object({
      id: nonEmpty.describe('AWS account id.'),
      profile: nonEmpty.optional().describe('Named profile whose credentials reach this account; else the default credential chain.'),
    }).strict()).default([])
      .describe('Accounts collected one by one; each needs credentials in the default chain (or a profile). Empty: the caller\'s account.'),
  }).strict().prefault({}).describe('The AWS Cost Explorer pull of the GPU bill.'),
  kafka: z.object({
    brokers: z.array(z.string().regex(/^[^\s:,]+:\d{1,5}$/, 'must be host:port')).min(1).default(['localhost:9092'])
      .describe('Bootstrap brokers, as host:port (comma-separated in the environment variable).'),
    topic: nonEmpty.default('inference-requests').describe('Topic of the request events.'),
    groupId: nonEmpty.default('inferledger-collector').describe('Consumer group of the collectors; the group splits the partitions between them.'),
    dlqTopic: z.string().default('').describe('Dead-letter topic for invalid messages; empty means `<topic>.dlq`.'),
    clientId: nonEmpty.default('inferledger').describe('Client id sent to the brokers.'),
    batchRows: positiveInt.max(1_000_000).default(20_000).describe('A partition\'s batch is written when it holds this many rows...'),
    batchBytes: positiveInt.default(16 * 1024 * 1024).describe('...or this many bytes of message values...'),
    batchAgeMs: positiveInt.default(1000).describe('...or its oldest row has waited this long (ms).'),
    maxMessageBytes: positiveInt.default(256 * 1024).describe('Larger messages are dead-lettered unread (same bound as a file line).'),
    partitionsConcurrently: positiveInt.max(64).default(3)
      .describe('Partitions whose batches are handled at once (parsing is on one thread; this only overlaps waits).'),
    sessionTimeoutMs: positiveInt.min(6000).default(30_000).describe('Consumer group session timeout (ms): a collector silent this long loses its partitions.'),
    stuckAfterMs: positiveInt.default(60_000).describe('/healthz fails when the fetch loop or the writes have made no progress for this long (ms).'),
    shutdownTimeoutMs: positiveInt.default(25_000).describe('On SIGTERM, give up flushing after this long (ms); what was not written is not committed.'),
    retryMinMs: positiveInt.default(250).describe('Backoff of warehouse and dead-letter retries: first wait (ms).'),
    retryMaxMs: positiveInt.default(30_000).describe('Backoff of warehouse and dead-letter retries: longest wait (ms).'),
  }).strict().refine((k) => k.retryMinMs <= k.retryMaxMs, { message: 'retryMinMs must not exceed retryMaxMs', path: ['retryMinMs'] }).prefault({})
    .describe('The Kafka request topic and its collector.'),
  redis: z.object({
    url: z.url({ protocol: /^rediss?$/ }).default('redis://127.0.0.1:6379').describe('Redis of the job queues (`redis://` or `rediss://`).'),
  }).strict().prefault({}).describe('Redis, which holds the job queues.'),
  jobs: z.object({
    prefix: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1-64 letters, digits, _ . or -').default('inferledger')
      .describe('Key prefix of every queue in Redis, so two deployments (or tests) can share one Redis.'),
    billingStart: z.string().regex(UTC_DAY, 'must be a UTC day, YYYY-MM-DD').refine(isUtcDay, 'is not a calendar day').optional()
      .describe('First UTC day the billing pull and attribution look at (YYYY-MM-DD). Unset: the first day of the previous month.'),
    billingPull: z.boolean().default(true).describe('Pull Cost Explorer on schedule; turn off when the bill arrives as files only.'),
    concurrency: positiveInt.max(16).default(1).describe('Jobs one worker runs at once.'),
    attempts: positiveInt.max(50).default(5).describe('Attempts of a job that fails with a transient error (exponential backoff with jitter between them).'),
    backoffMs: positiveInt.default(5_000).describe('First backoff delay (ms); doubled on each attempt, with jitter.'),
    shutdownGraceMs: positiveInt.default(20_000)
      .describe('On SIGTERM: how long the running job may take to finish (ms) before it is handed back and the process exits.'),
    dayLockMs: positiveInt.min(1000).default(60_000)
      .describe('A day being attributed is locked in Redis for this long (ms), renewed while it runs (a killed worker\'s lock expires).'),
    attributeDebounceMs: z.coerce.number().int().min(0).max(3_600_000).default(60_000)
      .describe('Requests the Kafka collector writes trigger an `attribute` pass at the end of a window of this length (ms), at most one per window, and the collector reaching the backlog it found at start triggers one at once; 0 turns both off (the `attribute` schedule only).'),
    schedules: z.object({
      'billing-pull': cron.optional().describe('Schedule of the Cost Explorer pull.'),
      attribute: cron.optional().describe('Schedule of the attribution of owed days.'),
      'alerts-evaluate': cron.optional().describe('Schedule of the alert evaluation.'),
      'report-chargeback': cron.optional().describe('Schedule of the chargeback packs.'),
    }).strict().default({}).describe('Cron patterns (UTC; 5 fields, or 6 with seconds) replacing a job\'s default schedule.'),
  }).strict().prefault({}).describe('Scheduled jobs and the `run` service (BullMQ on Redis).'),
  service: z.object({
    port: port.optional()
      .describe('Port of /metrics and /healthz of `inferledger run` (any role); 0 picks a free one, unset turns them off.'),
    host: listenHost.default('127.0.0.1')
      .describe('Address /metrics and /healthz of `run` listen on: loopback unless asked (e.g. 0.0.0.0 for a scraper on another host).'),
    collectorMetricsPort: port.optional()
      .describe('Port of /metrics and /healthz of `inferledger collect requests`; 0 picks a free one, unset turns them off.'),
    collectorMetricsHost: listenHost.default('127.0.0.1')
      .describe('Address the collector\'s /metrics and /healthz listen on: loopback unless asked (e.g. 0.0.0.0 for a scraper on another host).'),
    queryPort: port.default(8124).describe('Port of the read-only ClickHouse HTTP interface of `run` on the embedded warehouse; 0 turns it off.'),
    queryHost: listenHost.default('127.0.0.1').describe('Address the query interface listens on: loopback unless asked.'),
    queryPassword: z.string().optional()
      .describe('When set, queries must carry it (HTTP basic auth, X-ClickHouse-Key or the password parameter); any user name.'),
    dashboardPort: port.default(0).describe('Port of the bull-board queue dashboard of `run`; 0 (the default) turns it off.'),
    dashboardHost: listenHost.default('127.0.0.1').describe('Address the dashboard listens on: loopback unless asked (it can retry and delete jobs).'),
  }).strict().prefault({})
    .describe('Every port and address inferledger listens on: metrics and health of `run` and of the collector, analysts\' read-only queries and the queue dashboard.'),
  queries: z.object({
    maxMemoryBytes: z.coerce.number().int().positive().default(2 * 1024 ** 3).describe('Memory one query may use (bytes); the engine stops it beyond.'),
    maxExecutionSeconds: z.coerce.number().int().positive().default(120).describe('Time one query may run (seconds); the engine stops it beyond.'),
    // The default depends on the machine: the reference documents it in words.
    maxThreads: z.coerce.number().int().positive().default(() => Math.max(1, Math.floor(availableParallelism() / 2))).meta({
      description: 'Threads one query may use; default half the machine\'s cores, at least 1, so ingestion and jobs keep theirs.',
      computedDefault: 'half the cores, at least 1',
    }),
    maxResultRows: z.coerce.number().int().min(0).default(0).describe('Rows a result may have; 0: no limit (results are streamed, not held).'),
    maxResultBytes: z.coerce.number().int().min(0).default(4 * 1024 ** 3).describe('Bytes a result may have before the engine stops it (4 GiB); 0: no limit.'),
    maxBufferedResultBytes: z.coerce.number().int().positive().default(512 * 1024 ** 2)
      .describe('Bytes a result held whole may have (512 MiB): formats that do not stream (JSON, *WithNames, Pretty, Parquet) and queries with bound values.'),
    concurrency: positiveInt.max(64).default(4).describe('Queries the endpoint runs at once; more wait in line.'),
    queueTimeoutMs: positiveInt.default(30_000).describe('How long a query may wait in line before it is refused (ms).'),
    allowedOrigins: z.array(z.url()).default([])
      .describe('Browser origins (e.g. https://grafana.example.com) whose pages may send queries; requests from any other page are refused.'),
    allowedHosts: z.array(z.hostname()).default([])
      .describe('Host names the endpoint answers to besides IP addresses and localhost (DNS rebinding protection).'),
    maxTotalMemoryBytes: z.coerce.number().int().positive().default(4 * 1024 ** 3)
      .describe('Memory all analysts\' queries together may hold (bytes): each query reserves its own limit (maxMemoryBytes) out of this before it starts, and waits in line while the rest is taken.'),
    userConcurrency: positiveInt.max(64).default(2).describe('Queries one user runs at once; more wait in line with the others (up to queueTimeoutMs, then 429 with Retry-After).'),
    queriesPerMinute: positiveInt.default(120).describe('Queries one user may send in any minute; one more is answered 429 with Retry-After.'),
  }).strict().refine((q) => q.maxMemoryBytes <= q.maxTotalMemoryBytes, { message: 'maxMemoryBytes must not exceed maxTotalMemoryBytes', path: ['maxMemoryBytes'] })
    .prefault({})
    .describe('Analysts\' read-only queries (`inferledger sql` and the query endpoint of `run`): the limits each runs under, and who may send them.'),
  access: z.object({
    users: z.array(accessUser).default([])
      .refine((list) => new Set(list.map((u) => u.name)).size === list.length, 'user names must be unique')
      .describe('Who may query the query endpoint of `run`, each with a password and a scope. Empty: one optional password for all (service.queryPassword), every row visible.'),
    sharedTables: z.array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a table name of the warehouse\'s database')).default([])
      .describe('Tables without a team or tenant_id column (e.g. pool_cost, coverage_daily) that scoped users may read whole; every other such table is refused to them.'),
  }).strict().prefault({}).describe('Users and scopes of the query endpoint: each team or tenant sees its own rows, filtered by the engine; finance sees all.'),
  report: z.object({
    outDir: nonEmpty.default('reports').describe('Directory the scheduled packs are written to (`<outDir>/<month>/...`).'),
    scheduled: z.array(z.object({
      by: z.enum(['team', 'tenant']).describe('Who the pack charges: teams or tenants.'),
      idle: z.enum(['spread', 'separate', 'owner']).default('spread')
        .describe('Idle cost: spread over the charged owners, shown as a line of its own, or given to the team owning the pool (not with by tenant).'),
    }).strict().refine((p) => !(p.by === 'tenant' && p.idle === 'owner'), { message: 'idle owner gives idle cost to the team owning a pool: not with by tenant', path: ['idle'] }))
      .max(6)
      .refine((list) => new Set(list.map((p) => `${p.by}/${p.idle}`)).size === list.length, 'each (by, idle) pack once')
      .default([{ by: 'team', idle: 'spread' }])
      .describe('The packs built for each month: one per (by, idle). Empty: the job builds none.'),
  }).strict().prefault({}).describe('Chargeback packs the scheduled report-chargeback job builds.'),
  alerts: z.object({
    byTenant: z.boolean().default(false).describe('One key per (model, feature, tenant) instead of (model, feature).'),
    relativeIncrease: z.number().positive().default(0.25).describe('Opens when CPP is at least this much above the baseline (0.25 = +25%)...'),
    minAbsoluteIncrease: z.number().min(0).default(0).describe('...and at least this much per prediction above it (currency units)...'),
    minExtraDailyCost: z.number().min(0).default(10).describe('...and the increase costs at least this much per day at the day\'s traffic...'),
    minRequests: positiveInt.default(1000).describe('...and the day and the baseline day each had at least this many requests...'),
    minRobustZ: z.number().min(0).default(3)
      .describe('...and the change is this many robust spreads (1.4826 x MAD of the baseline days) above the median.'),
    baselineDays: positiveInt.max(28).default(7).describe('Comparable days in the baseline, most recent first.'),
    minBaselineDays: positiveInt.default(3).describe('Fewer comparable days than this: the key is not judged yet.'),
    comparable: z.enum(['daytype', 'weekday', 'any']).default('daytype')
      .describe('Which days are comparable: same day type (weekday / weekend), same weekday, or any.'),
    resolveBelow: z.number().min(0).default(0.1).describe('An open alert resolves once its increase over the baseline stays under this (0.1 = +10%)...'),
    resolveAfterWindows: positiveInt.max(30).default(2).describe('...for this many evaluated days in a row.'),
    settleMinutes: positiveInt.default(60).describe('A day\'s traffic has settled when its last request was ingested this long ago...'),
    completeAfterHours: positiveInt.default(30).describe('...or the day ended this long ago (a backfill).'),
    intradayMinHours: z.number().int().min(0).max(23).default(6)
      .describe('The current day (and the one before it, while it is not complete) is judged hour by hour once this many of its first hours are complete: billed, attributed and settled. 0 turns it off.'),
    lookbackDays: positiveInt.max(400).default(45).describe('Without --day: days evaluated at most this far back.'),
    webhooks: z.array(z.object({
      name: z.string().trim().min(1).max(64).describe('Printed in logs and recorded with deliveries; the URL never is.'),
      url: z.url({ protocol: /^https?$/ }).describe('Where alerts are posted (http or https); a secret, never printed whole.'),
      kind: z.enum(['slack', 'json']).default('json').describe('slack: a Slack-compatible incoming webhook ({text}); json: the whole alert.'),
      default: z.boolean().optional()
        .describe('Whether this webhook gets the alerts no route claims (and those of routes with alsoDefault). Unset: true, unless a route names this webhook (a team\'s webhook gets only its routes\' alerts).'),
    }).strict()).default([]).describe('Where opened, escalated and resolved alerts are sent: the default webhooks, and those alerts.routes name.'),
    routes: z.array(z.object({
      teams: z.array(teamName.max(256)).min(1, 'must name at least one team').optional()
        .describe('Teams as attribution records them (cost_allocation.team): their budget alerts, and CPP alerts of keys with their traffic.'),
      tenants: z.array(nonEmpty.max(256)).min(1, 'must name at least one tenant').optional()
        .describe('Tenants as attribution records them (tenant_id): their budget alerts, and CPP alerts of their keys (alerts.byTenant).'),
      webhooks: z.array(nonEmpty.max(64)).min(1, 'must name at least one webhook').describe('Names of webhooks in alerts.webhooks that get these alerts.'),
      alsoDefault: z.boolean().default(false).describe('Send these alerts to the default webhooks too (otherwise only to this route\'s).'),
    }).strict().superRefine((r, ctx) => {
      if (r.teams !== undefined && r.tenants !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['tenants'], message: 'a route names teams or tenants, not both: make it two routes' });
      } else if (r.teams === undefined && r.tenants === undefined) {
        ctx.addIssue({ code: 'custom', path: ['teams'], message: 'a route names its teams or its tenants' });
      }
    })).default([])
      .describe('Which webhooks get the alerts of a team or tenant (exactly one of teams, tenants per route); an alert no route claims goes to the default webhooks.'),
    budgets: z.array(z.object({
      by: z.enum(['team', 'tenant']).describe('Whether owner is a team or a tenant.'),
      owner: z.string().trim().min(1).max(256).describe('The team or tenant as attribution records it (cost_allocation.team / tenant_id).'),
      monthly: z.string().regex(/^\d{1,26}(\.\d{1,12})?$/, 'must be a decimal amount as text, e.g. "12000.00"')
        .refine((v) => /[1-9]/.test(v), 'must be above 0').describe('Amount per calendar month, exact decimal text, e.g. "12000.00".'),
      currency: z.string().regex(/^[A-Z]{3}$/, 'must be a currency code such as USD').describe('ISO 4217 code; only cost in this currency counts against the budget.'),
      warnAt: z.number().gt(0).lt(1).optional().describe('Also open (at level warning) when the forecast reaches this share of the budget.'),
      resolveBelow: z.number().gt(0).optional()
        .describe('An open budget alert resolves when the forecast falls under this share of the budget. Default: 0.05 under the opening threshold.'),
    }).strict().refine((b) => b.resolveBelow === undefined || b.resolveBelow < (b.warnAt ?? 1), {
      message: 'resolveBelow must be below warnAt (or 1 without warnAt)', path: ['resolveBelow'],
    })).default([])
      .describe('Monthly budgets per team or tenant, in one currency each; watched by forecast (month to date + run rate x days left) on the days alerts evaluate.'),
    retries: z.number().int().min(0).max(10).default(4).describe('Delivery retries with exponential backoff, from retryMinMs.'),
    retryMinMs: positiveInt.default(500).describe('First wait before a delivery is retried (ms).'),
    timeoutMs: positiveInt.default(10_000).describe('How long one delivery may take (ms).'),
  }).strict().refine((a) => a.resolveBelow < a.relativeIncrease, { message: 'resolveBelow must be below relativeIncrease', path: ['resolveBelow'] })
    .refine((a) => a.minBaselineDays <= a.baselineDays, { message: 'minBaselineDays must not exceed baselineDays', path: ['minBaselineDays'] })
    .refine((a) => new Set(a.webhooks.map((w) => w.name)).size === a.webhooks.length, { message: 'webhook names must be unique', path: ['webhooks'] })
    .superRefine((a, ctx) => {
      const names = new Set(a.webhooks.map((w) => w.name));
      a.routes.forEach((r, i) => {
        r.webhooks.forEach((name, j) => {
          if (!names.has(name)) ctx.addIssue({ code: 'custom', path: ['routes', i, 'webhooks', j], message: `no webhook named ${JSON.stringify(name)} in alerts.webhooks` });
        });
      });
      const routed = new Set(a.routes.flatMap((r) => r.webhooks));
      a.webhooks.forEach((w, i) => {
        if (w.default === false && !routed.has(w.name)) ctx.addIssue({ code: 'custom', path: ['webhooks', i, 'default'], message: 'this webhook would get nothing: default is false and no route names it' });
      });
    })
    .refine((a) => new Set(a.budgets.map((b) => JSON.stringify([b.by, b.owner, b.currency]))).size === a.budgets.length, {
      message: 'one budget per (by, owner, currency)', path: ['budgets'],
    })
    .prefault({}).describe('CPP regression alerts, their notifications, and monthly budgets.'),
  backup: z.object({
    dir: nonEmpty.optional()
      .describe('Directory the scheduled backups of the embedded warehouse are written to, one `<timestamp>/` each (`inferledger restore` reads one back); unset: no scheduled backups.'),
    keep: positiveInt.max(1000).default(7).describe('Scheduled backups kept in backup.dir: after each new one, all but the newest this many are deleted.'),
    schedule: cron.default('0 3 * * *')
      .describe('When a scheduled backup is due (cron, UTC; 5 fields, or 6 with seconds); the backup job looks every 15 minutes, so one starts within 15 minutes of its time.'),
  }).strict().prefault({}).describe('Scheduled backups of the embedded warehouse, taken by the `backup` job of `inferledger run`.'),
}).strict();

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;

/**
 * Checks across sections, made after the schema's own (kept out of the
 * schema so its sections can still be picked apart): each a path and what is
 * wrong there.
 */
export function crossSectionProblems(config: Config): { path: string; message: string }[] {
  const problems: { path: string; message: string }[] = [];
  if (config.access.users.length > 0 && config.service.queryPassword !== undefined) {
    problems.push({ path: 'service.queryPassword', message: 'set either service.queryPassword (one password, every row) or access.users (a password and a scope each), not both' });
  }
  config.access.users.forEach((user, i) => {
    const memory = user.limits.maxMemoryBytes;
    if (memory !== undefined && memory > config.queries.maxTotalMemoryBytes) {
      problems.push({ path: `access.users.${i}.limits.maxMemoryBytes`, message: `must not exceed queries.maxTotalMemoryBytes (${config.queries.maxTotalMemoryBytes})` });
    }
  });
  return problems;
}

/** Environment variable -> config path (section, key), and how its text becomes the value. */
export const ENV_VARS: ReadonlyArray<readonly [name: string, path: readonly [string, string], convert: (v: string) => unknown]> = [
  ['CLICKHOUSE_URL', ['warehouse', 'url'], (v) => v],
  ['CLICKHOUSE_USER', ['warehouse', 'user'], (v) => v],
  ['CLICKHOUSE_PASSWORD', ['warehouse', 'password'], (v) => v],
  ['CLICKHOUSE_DATABASE', ['warehouse', 'database'], (v) => v],
  ['INFERLEDGER_DATA_DIR', ['warehouse', 'dataDir'], (v) => v],
  ['INFERLEDGER_BATCH_ROWS', ['ingest', 'batchRows'], (v) => v],
  ['INFERLEDGER_PARSER_THREADS', ['ingest', 'parserThreads'], (v) => v],
  ['INFERLEDGER_DUPLICATE_HORIZON_HOURS', ['ingest', 'duplicateHorizonHours'], (v) => v],
  ['INFERLEDGER_ENGINE_UNIT_BYTES', ['ingest', 'engineUnitBytes'], (v) => v],
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
  ['INFERLEDGER_METRICS_PORT', ['service', 'collectorMetricsPort'], (v) => v],
  ['INFERLEDGER_METRICS_HOST', ['service', 'collectorMetricsHost'], (v) => v],
  ['REDIS_URL', ['redis', 'url'], (v) => v],
  ['INFERLEDGER_JOBS_PREFIX', ['jobs', 'prefix'], (v) => v],
  ['INFERLEDGER_BILLING_START', ['jobs', 'billingStart'], (v) => v],
  ['INFERLEDGER_BILLING_PULL', ['jobs', 'billingPull'], (v) => (v === 'true' ? true : v === 'false' ? false : v)],
  ['INFERLEDGER_JOBS_CONCURRENCY', ['jobs', 'concurrency'], (v) => v],
  ['INFERLEDGER_SHUTDOWN_GRACE_MS', ['jobs', 'shutdownGraceMs'], (v) => v],
  ['INFERLEDGER_SERVICE_PORT', ['service', 'port'], (v) => v],
  ['INFERLEDGER_SERVICE_HOST', ['service', 'host'], (v) => v],
  ['INFERLEDGER_QUERY_PORT', ['service', 'queryPort'], (v) => v],
  ['INFERLEDGER_QUERY_HOST', ['service', 'queryHost'], (v) => v],
  ['INFERLEDGER_QUERY_PASSWORD', ['service', 'queryPassword'], (v) => v],
  ['INFERLEDGER_DASHBOARD_PORT', ['service', 'dashboardPort'], (v) => v],
  ['INFERLEDGER_DASHBOARD_HOST', ['service', 'dashboardHost'], (v) => v],
];

/**
 * Keys that moved, old (section, key) -> new. A config file or an override
 * giving an old key is read as the new one, with a warning; giving both with
 * different values is an error.
 */
export const RENAMED_KEYS: ReadonlyArray<{ readonly from: readonly [string, string]; readonly to: readonly [string, string] }> = [
  { from: ['jobs', 'port'], to: ['service', 'port'] },
  { from: ['jobs', 'host'], to: ['service', 'host'] },
  { from: ['kafka', 'metricsPort'], to: ['service', 'collectorMetricsPort'] },
  { from: ['kafka', 'metricsHost'], to: ['service', 'collectorMetricsHost'] },
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
  /**
   * Called once per warning (a renamed key still in use), as one printable
   * line naming the old and the new key. Default: a process warning
   * (`process.emitWarning`, type DeprecationWarning).
   */
  onWarning?: (message: string) => void;
}

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? (T[K] extends unknown[] ? T[K] : DeepPartial<T[K]>) : T[K] };

type Layer = Record<string, unknown>;

const isPlainObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);

/**
 * One source's values with renamed keys moved to their new place (a copy;
 * the source is not changed). Each old key in use is a warning; an old and a
 * new key both set, to different values, is a problem.
 */
function moveRenamedKeys(layer: Layer, source: string, origin: Map<string, string>, warnings: string[], problems: string[]): Layer {
  const out: Layer = { ...layer };
  for (const { from: [oldSection, oldKey], to: [newSection, newKey] } of RENAMED_KEYS) {
    const oldValues = out[oldSection];
    if (!isPlainObject(oldValues) || !Object.hasOwn(oldValues, oldKey) || oldValues[oldKey] === undefined) continue;
    const value = oldValues[oldKey];
    out[oldSection] = Object.fromEntries(Object.entries(oldValues).filter(([key]) => key !== oldKey));
    const oldPath = `${oldSection}.${oldKey}`;
    const newPath = `${newSection}.${newKey}`;
    warnings.push(`${oldPath} (${source}) is deprecated: use ${newPath}`);
    const newValues = out[newSection] ?? {};
    if (!isPlainObject(newValues)) continue; // the section itself is wrong: the schema says so
    if (newValues[newKey] !== undefined) {
      if (!isDeepStrictEqual(newValues[newKey], value)) {
        problems.push(`${oldPath} and ${newPath} (${source}) are both set, to different values (${JSON.stringify(value)} and ${JSON.stringify(newValues[newKey])}): keep only ${newPath}`);
      }
      continue;
    }
    out[newSection] = { ...newValues, [newKey]: value };
    origin.set(newPath, `${source}, as ${oldPath}`);
  }
  return out;
}

/** Parse configuration from every source, or throw a ConfigError listing every problem. */
export function loadConfig(opts: LoadConfigOptions = {}): Config {
  const env = opts.env ?? process.env;
  const problems: string[] = [];
  const warnings: string[] = [];
  const merged: Record<string, Record<string, unknown>> = {};
  // Where each value came from, so an error names the variable the user set.
  const origin = new Map<string, string>();

  const filePath = opts.file ?? env['INFERLEDGER_CONFIG'];
  if (filePath) {
    try {
      const parsed: unknown = JSON.parse(readFileSync(filePath, 'utf8'));
      if (!isPlainObject(parsed)) {
        problems.push(`config file ${filePath}: must hold a JSON object`);
      } else {
        // "$schema" points editors at docs/config.schema.json; it is not configuration.
        const sections = Object.fromEntries(Object.entries(parsed).filter(([key]) => key !== '$schema'));
        const source = `config file ${filePath}`;
        for (const [section, values] of Object.entries(sections)) {
          if (isPlainObject(values)) for (const key of Object.keys(values)) origin.set(`${section}.${key}`, source);
        }
        Object.assign(merged, moveRenamedKeys(sections, source, origin, warnings, problems));
      }
    } catch (err) {
      problems.push(`config file ${filePath}: ${(err as Error).message}`);
    }
  }

  for (const [name, [section, key], convert] of ENV_VARS) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    merged[section] = { ...merged[section], [key]: convert(raw) };
    origin.set(`${section}.${key}`, `env ${name}`);
  }

  const overrides = moveRenamedKeys(opts.overrides ?? {}, 'command line', origin, warnings, problems);
  for (const [section, values] of Object.entries(overrides) as [string, Record<string, unknown> | undefined][]) {
    for (const [key, value] of Object.entries(values ?? {})) {
      if (value === undefined) continue;
      merged[section] = { ...merged[section], [key]: value };
      if (!origin.get(`${section}.${key}`)?.startsWith('command line')) origin.set(`${section}.${key}`, 'command line');
    }
  }

  const report = opts.onWarning ?? ((message: string) => { process.emitWarning(message, { type: 'DeprecationWarning', code: 'INFERLEDGER_CONFIG_RENAMED' }); });
  for (const warning of warnings) report(warning);

  const result = configSchema.safeParse(merged);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const path = issue.path.slice(0, 2).join('.');
      const from = origin.get(path);
      problems.push(`${issue.path.join('.') || '(root)'}${from ? ` (from ${from})` : ''}: ${issue.message}`);
    }
  }
  if (result.success) {
    for (const p of crossSectionProblems(result.data)) {
      const from = origin.get(p.path.split('.').slice(0, 2).join('.'));
      problems.push(`${p.path}${from ? ` (from ${from})` : ''}: ${p.message}`);
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
    // An unsalted hash of a weak password is as good as the password: never printed either.
    access: { ...config.access, users: config.access.users.map((u) => ({ ...u, password_sha256_hex: '***' })) },
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
