/**
 * `inferledger doctor`: every check at once, each on its own time limit, none
 * stopped by another's failure. What checks share (the warehouse, a job
 * runtime over Redis) is opened once, when first asked; a check whose
 * dependency could not be reached says so and points at that line. Nothing
 * is written anywhere: no migration, no data directory, no job.
 */
import type { Config } from '../config/config.js';
import type { JobDefinition } from '../scheduler/job.js';
import { JobRuntime, type JobStatus } from '../scheduler/runtime.js';
import { alertsCheck } from './alerts-check.js';
import { estimatedCheck, freshnessCheck, pendingCheck, unallocatedCheck, unknownPoolsCheck } from './attribution-checks.js';
import { billingCheck } from './billing-check.js';
import { Finding, reason, STATUSES, Unavailable, worst, type Check, type CheckOutcome, type CheckResult, type DoctorContext, type Status, type WarehouseAccess } from './check.js';
import { kafkaCheck } from './kafka-check.js';
import { connectRedis, jobsCheck, owedCheck, redisCheck } from './queue-checks.js';
import { diskCheck, freeSpaceCheck, retentionCheck } from './storage-checks.js';
import { openDoctorWarehouse, warehouseCheck } from './warehouse-checks.js';

/** Every check, in the order the report lists them. */
export const CHECKS: readonly Check[] = [
  warehouseCheck, redisCheck, kafkaCheck, jobsCheck, owedCheck, freshnessCheck,
  pendingCheck, unknownPoolsCheck, unallocatedCheck, estimatedCheck, billingCheck, alertsCheck,
  diskCheck, freeSpaceCheck, retentionCheck,
];

/** What `--skip` accepts: check names and group names. */
export function skippable(): string[] {
  return [...new Set(CHECKS.flatMap((c) => [c.name, c.group]))].sort();
}

export interface DoctorOptions {
  config: Config;
  /** The job registry (the jobs checks need it to read the queues). */
  jobs?: () => Promise<readonly JobDefinition[]>;
  /** Check or group names left out. */
  skip?: readonly string[];
  /** The instant checks judge by; now by default. */
  now?: number;
}

export interface DoctorReport {
  checkedAt: string;
  /** The worst status of the checks run. */
  status: Status;
  /** 1 when any check FAILs (something needs a person), else 0: WARN alone exits 0. */
  exitCode: 0 | 1;
  counts: Record<Status, number>;
  checks: CheckResult[];
  skipped: string[];
}

/** Settles after `ms` with undefined; the timer never keeps the process alive. */
function deadline(ms: number): Promise<undefined> {
  return new Promise((resolve) => { setTimeout(() => { resolve(undefined); }, ms).unref(); });
}

/** An engine's error can quote a whole query: the line keeps its start. */
function clip(text: string, max = 200): string {
  return text.length > max ? `${text.slice(0, max - 3)}...` : text;
}

/** Run one check within its time limit; whatever happens becomes its line. */
async function runCheck(check: Check, ctx: DoctorContext): Promise<CheckResult> {
  const started = performance.now();
  let outcome: CheckOutcome;
  try {
    const done = await Promise.race([check.run(ctx), deadline(check.timeoutMs)]);
    outcome = done ?? { status: 'FAIL', detail: `no answer within ${check.timeoutMs / 1000} s`, fix: check.errorFix };
  } catch (err) {
    // The check's own dependency (the warehouse line is about the warehouse) says what it found, with its fix.
    const found = err instanceof Unavailable && err.line === check.name ? err.found : err;
    if (found instanceof Finding) outcome = { status: found.status, detail: found.detail, fix: found.fix, data: found.data };
    else if (found instanceof Unavailable) outcome = { status: 'FAIL', detail: `not checked: ${found.message}`, fix: found.fix };
    else outcome = { status: 'FAIL', detail: `could not check: ${clip(reason(found))}`, fix: check.errorFix, data: { error: reason(found) } };
  }
  return {
    name: check.name,
    group: check.group,
    status: outcome.status,
    detail: outcome.detail,
    fix: outcome.status === 'OK' ? '' : outcome.fix ?? '',
    ms: Math.round(performance.now() - started),
    data: outcome.data ?? {},
  };
}

/** Opened once, when first asked; closed after the last check, within a bound. */
class SharedResources {
  private warehouseOpening: Promise<WarehouseAccess> | undefined;
  private runtimeOpening: Promise<JobRuntime> | undefined;
  private statuses: Promise<JobStatus[]> | undefined;

  constructor(private readonly options: DoctorOptions) {}

  warehouse(): Promise<WarehouseAccess> {
    this.warehouseOpening ??= openDoctorWarehouse(this.options.config);
    return this.warehouseOpening.catch((err: unknown) => { throw new Unavailable('the warehouse', 'warehouse', err); });
  }

  runtime(): Promise<JobRuntime> {
    const { config, jobs } = this.options;
    this.runtimeOpening ??= (async () => {
      if (jobs === undefined) throw new Finding('no job registry in this entry point', 'run the `inferledger` command');
      const registry = await jobs();
      // Redis answering first: a runtime would otherwise wait for it.
      const redis = await connectRedis(config).catch((err: unknown) => { throw new Unavailable('Redis', 'redis', err); });
      redis.disconnect();
      return new JobRuntime({ config, jobs: registry, log: () => undefined, failFast: true });
    })();
    return this.runtimeOpening;
  }

  jobStatuses(): Promise<JobStatus[]> {
    this.statuses ??= this.runtime().then((r) => r.list());
    return this.statuses;
  }

  async close(): Promise<void> {
    const closing = [
      this.runtimeOpening?.then((r) => r.close(0)),
      this.warehouseOpening?.then((w) => w.warehouse.close()),
    ].map((p) => Promise.resolve(p).catch(() => undefined));
    await Promise.race([Promise.all(closing), deadline(3_000)]);
  }
}

/**
 * A schema that is not current (no tables yet, migrations pending) makes the
 * checks reading missing tables fail with the engine's words: they point at
 * the warehouse line instead, which says what to run.
 */
function explainMissingTables(checks: CheckResult[]): void {
  const schema = checks.find((c) => c.name === warehouseCheck.name);
  const pending = schema?.data['pending'];
  if (schema?.status !== 'FAIL' || !Array.isArray(pending) || pending.length === 0) return;
  for (const c of checks) {
    const error = c.data['error'];
    if (c === schema || c.status !== 'FAIL' || typeof error !== 'string' || !/UNKNOWN_TABLE|Unknown table/i.test(error)) continue;
    c.detail = 'not checked: the schema is not current';
    c.fix = `see the ${schema.name} line`;
  }
}

export async function runDoctor(options: DoctorOptions): Promise<DoctorReport> {
  const now = options.now ?? Date.now();
  const skip = new Set(options.skip ?? []);
  const resources = new SharedResources(options);
  const ctx: DoctorContext = {
    config: options.config,
    now,
    warehouse: () => resources.warehouse(),
    runtime: () => resources.runtime(),
    jobStatuses: () => resources.jobStatuses(),
  };
  const chosen = CHECKS.filter((c) => !skip.has(c.name) && !skip.has(c.group));
  let checks: CheckResult[];
  try {
    checks = await Promise.all(chosen.map((c) => runCheck(c, ctx)));
  } finally {
    await resources.close();
  }
  explainMissingTables(checks);
  const counts = Object.fromEntries(STATUSES.map((s) => [s, checks.filter((c) => c.status === s).length])) as Record<Status, number>;
  const status = worst(checks.map((c) => c.status));
  return {
    checkedAt: new Date(now).toISOString(),
    status,
    exitCode: status === 'FAIL' ? 1 : 0,
    counts,
    checks,
    skipped: CHECKS.filter((c) => !chosen.includes(c)).map((c) => c.name),
  };
}
