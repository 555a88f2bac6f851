/**
 * The jobs runtime on BullMQ: queues, the scheduler (job schedulers upserted
 * with stable ids, cron in UTC, plus a catch-up tick on start), and one worker
 * wrapper that validates payloads, runs the registered handler, records
 * metrics and logs failures. Nothing starts on import: a caller opens a
 * runtime and starts the parts its role needs.
 *
 * Fresh numbers: an AttributionTrigger enqueues an `attribute` tick after new
 * inputs (debounced, see freshAttributeTick) and when the collector has caught
 * up with its start-up backlog; a worker keeps the freshness of attribution
 * (attributedThrough) in Redis, which /metrics and `jobs list` read.
 */
import { DelayedError, FlowProducer, Queue, UnrecoverableError, Worker, type Job, type JobsOptions } from 'bullmq';
import { Redis } from 'ioredis';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { z } from 'zod';
import { AttributionSettingsConflict, attributionSettingsFor } from '../attribution/recorded-settings.js';
import type { Config } from '../config/config.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { JOBS, QUEUES, freshAttributeTick, hourWindow, jobId, type JobName, type QueueName } from './contract.js';
import type { FlowJob, JobContext, JobDefinition, JobOutcome } from './job.js';
import { attributedThrough, billingStartDay } from './watermarks.js';

export interface RuntimeOptions {
  config: Config;
  /** Every job the service knows (jobs/registry.ts): the scheduler upserts the scheduled ones, a worker serves all. */
  jobs: readonly JobDefinition[];
  log: (line: string) => void;
  /** Injected clock (tests); Date.now by default. */
  clock?: () => number;
  /** For one-shot commands (`jobs list`): fail when Redis does not answer instead of waiting for it. */
  failFast?: boolean;
}

export interface RuntimeHealth {
  ok: boolean;
  detail: Record<string, unknown>;
}

/** A row of `jobs list`. */
export interface JobStatus {
  name: string;
  queue: string;
  schedule: string;
  nextRun: string;
  lastRun: string;
  lastState: string;
  durationMs: number | null;
  rowsWritten: number | null;
  lastError: string;
  owed: number | null;
  owedAt: string;
  waiting: number;
  active: number;
  failed: number;
  /** attribute only: seconds from the end of the newest fully attributed hour to now; null before a worker worked it out. */
  freshnessSeconds: number | null;
  /** attribute only: the end of that hour (ISO), '' when unknown. */
  attributedThrough: string;
}

/** The freshness of attribution as a worker last worked it out (kept in Redis under `<prefix>:freshness`). */
export interface FreshnessRecord {
  /** End of the newest fully attributed hour (ISO). */
  through: string;
  /** When it was worked out (ISO, the worker's clock). */
  at: string;
  /** Days holding a complete hour not yet attributed from its current inputs. */
  openDays: number;
}

/** Freshness as reported: the record and its age now. */
export interface Freshness extends FreshnessRecord {
  seconds: number;
}

const freshnessRecord = z.object({ through: z.iso.datetime(), at: z.iso.datetime(), openDays: z.number().int().min(0) });

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Asks for attribution passes after new inputs; what the collector is handed (see run-service.ts). */
export interface AttributionTrigger {
  /** Request rows were written: an `attribute` tick at the end of the current debounce window, one per window. */
  rowsWritten(): void;
  /** The collector reached the partition ends it saw at start: an `attribute` tick now. */
  caughtUp(): void;
  close(): Promise<void>;
}

/** Options of every job the runtime adds: retries with backoff, finished jobs kept for their ids. */
function jobOptionsFor(config: Config, attempts = config.jobs.attempts): JobsOptions {
  return {
    attempts,
    backoff: { type: 'exponential', delay: config.jobs.backoffMs, jitter: 0.5 },
    // Finished jobs are kept for a week: their ids are what makes a duplicate trigger a no-op.
    removeOnComplete: { age: 7 * 86_400, count: 10_000 },
    removeOnFail: { age: 30 * 86_400, count: 10_000 },
  };
}

/**
 * The trigger over the attribute job's queue. One add in flight at a time
 * (while Redis is away it waits for it); requests made meanwhile wait their
 * turn, and a newer window's tick replaces an older one still waiting (it
 * covers the same writes). With jobs.attributeDebounceMs 0 it does nothing.
 */
class QueueTrigger implements AttributionTrigger {
  private requested = '';
  private readonly pending = new Map<string, { fresh: boolean; runAt: number }>();
  private sending: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly add: ((id: string, delayMs: number) => Promise<unknown>) | undefined,
    private readonly debounceMs: number,
    private readonly clock: () => number,
    private readonly log: (line: string) => void,
    private readonly onClose: () => Promise<void> = () => Promise.resolve(),
  ) {}

  rowsWritten(): void {
    if (this.add === undefined || this.debounceMs === 0 || this.closed) return;
    const { id, runAt } = freshAttributeTick(this.clock(), this.debounceMs);
    if (id === this.requested) return;
    this.requested = id;
    for (const [key, request] of this.pending) if (request.fresh) this.pending.delete(key);
    this.pending.set(id, { fresh: true, runAt });
    this.send();
  }

  caughtUp(): void {
    if (this.add === undefined || this.debounceMs === 0 || this.closed) return;
    const now = this.clock();
    this.pending.set(jobId(JOBS.attribute, 'caught-up', String(now)), { fresh: false, runAt: now });
    this.send();
  }

  private send(): void {
    const add = this.add;
    if (this.sending !== undefined || add === undefined || this.closed) return;
    const next = this.pending.entries().next();
    if (next.done === true) return;
    const [id, { runAt }] = next.value;
    this.pending.delete(id);
    this.sending = add(id, Math.max(0, runAt - this.clock())).then(
      () => undefined,
      (err: unknown) => { if (!this.closed) this.log(`jobs: attribute tick ${id} not enqueued: ${(err as Error).message}`); },
    ).finally(() => {
      this.sending = undefined;
      this.send();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.pending.clear();
    await this.onClose();
  }
}

/** The attribute job of a registry: the queue and attempts its ticks are added with. */
function attributeDefinition(jobs: readonly JobDefinition[]): JobDefinition | undefined {
  return jobs.find((j) => j.name === JOBS.attribute);
}

/**
 * A trigger of its own, for a process without a job runtime (`run --role
 * collector` against a server): a Redis connection and the attribute queue,
 * nothing else. Redis away does not stop the collector: the tick is added
 * once Redis is back, and the attribute schedule catches up anyway.
 */
export function openAttributionTrigger(options: { config: Config; jobs: readonly JobDefinition[]; log: (line: string) => void; clock?: () => number }): AttributionTrigger {
  const { config, log } = options;
  const def = attributeDefinition(options.jobs);
  if (def === undefined || config.jobs.attributeDebounceMs === 0) return new QueueTrigger(undefined, 0, Date.now, log);
  const connection = new Redis(config.redis.url, { maxRetriesPerRequest: null });
  let said = '';
  const quiet = (err: Error): void => {
    if (said === err.message) return;
    said = err.message;
    log(`jobs: redis (attribution trigger): ${err.message}`);
  };
  connection.on('error', quiet);
  const queue = new Queue(def.queue, { connection, prefix: config.jobs.prefix });
  queue.on('error', quiet);
  const add = (id: string, delay: number): Promise<unknown> => queue.add(def.name, {}, { ...jobOptionsFor(config, def.attempts), jobId: id, delay });
  return new QueueTrigger(add, config.jobs.attributeDebounceMs, options.clock ?? Date.now, log, async () => {
    await Promise.race([queue.close(), new Promise((r) => { setTimeout(r, 1000).unref(); })]);
    connection.disconnect();
  });
}

const outcomeShape = (v: unknown): Partial<JobOutcome> => (v !== null && typeof v === 'object' ? v : {});

export class JobRuntime {
  readonly registry = new Registry();
  private readonly duration = new Histogram({ name: 'inferledger_job_duration_seconds', help: 'Run time of jobs, by job and outcome', labelNames: ['job', 'outcome'], buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 1800], registers: [this.registry] });
  private readonly failures = new Counter({ name: 'inferledger_job_failures_total', help: 'Failed job attempts, by job and whether they will be retried', labelNames: ['job', 'final'], registers: [this.registry] });
  private readonly rowsWritten = new Counter({ name: 'inferledger_job_rows_written_total', help: 'Warehouse rows written by jobs', labelNames: ['job'], registers: [this.registry] });
  private readonly owedGauge = new Gauge({ name: 'inferledger_job_windows_owed', help: 'Windows (UTC days) a job found owed on its last run', labelNames: ['job'], registers: [this.registry] });
  /** The warehouse of this process's workers: freshness is worked out where attribution runs. */
  private warehouse: Warehouse | undefined;
  private freshnessTimer: NodeJS.Timeout | undefined;
  private freshnessLoop: Promise<void> | undefined;
  private freshnessWanted = false;
  /** The hour (of the runtime's clock) freshness was last worked out in: a new hour can move it with no pass. */
  private freshnessHour = '';
  private freshnessLocal: FreshnessRecord | undefined;
  private closing = false;
  private readonly queues = new Map<QueueName, Queue>();
  private readonly flow: FlowProducer;
  /** Commands (queues, flows, locks); workers get their own connections (they block). */
  readonly connection: Redis;
  private readonly workerConnections: Redis[] = [];
  private readonly workers: Worker[] = [];
  private readonly active = new Map<string, { job: Job; token: string | undefined }>();
  private readonly clock: () => number;
  private schedulerOk: boolean | undefined;
  private lastSchedulerError = '';

  constructor(private readonly options: RuntimeOptions) {
    const { config } = options;
    this.clock = options.clock ?? Date.now;
    // maxRetriesPerRequest null: BullMQ's requirement; commands wait for Redis to come back instead of failing.
    this.connection = new Redis(config.redis.url, options.failFast === true
      ? { maxRetriesPerRequest: 1, connectTimeout: 5_000, retryStrategy: (attempt) => (attempt > 2 ? null : 200) }
      : { maxRetriesPerRequest: null });
    this.connection.on('error', (err) => { this.connectionError(err); });
    // Once Redis answers again, the next outage is worth a line too.
    this.connection.on('ready', () => { this.errorsSeen.clear(); });
    for (const name of Object.values(QUEUES)) {
      const queue = new Queue(name, { connection: this.connection, prefix: config.jobs.prefix, defaultJobOptions: this.jobOptions() });
      queue.on('error', (err) => { this.connectionError(err); });
      this.queues.set(name, queue);
    }
    this.flow = new FlowProducer({ connection: this.connection, prefix: config.jobs.prefix });
    this.flow.on('error', (err) => { this.connectionError(err); });
    const queues = [...this.queues.values()];
    const freshness = (): Promise<Freshness | undefined> => this.freshness();
    new Gauge({
      name: 'inferledger_freshness_seconds',
      help: 'Seconds from the end of the newest fully attributed hour (every complete hour up to it with a bill or traffic attributed from its current inputs) to now',
      registers: [this.registry],
      async collect() {
        const f = await freshness();
        this.reset();
        if (f) this.set(f.seconds);
      },
    });
    new Gauge({
      name: 'inferledger_job_queue_depth',
      help: 'Jobs in each queue by state',
      labelNames: ['queue', 'state'],
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const queue of queues) {
          // Redis away: report nothing rather than fail the whole scrape.
          const counts = await Promise.race([queue.getJobCounts('wait', 'active', 'delayed', 'prioritized', 'waiting-children', 'failed'), new Promise<undefined>((r) => { setTimeout(() => { r(undefined); }, 1000).unref(); })]).catch(() => undefined);
          for (const [state, n] of Object.entries(counts ?? {})) this.set({ queue: queue.name, state }, n);
        }
      },
    });
  }

  /** Connection errors repeat while Redis is away (clients reconnect by themselves): log the first of each kind, not every retry. */
  private readonly errorsSeen = new Set<string>();
  private connectionError(err: Error): void {
    const kind = `${err.name}:${(err as NodeJS.ErrnoException).code ?? err.message}`;
    if (this.errorsSeen.has(kind)) return;
    this.errorsSeen.add(kind);
    this.options.log(`jobs: redis: ${err.message}`);
  }

  private jobOptions(attempts = this.options.config.jobs.attempts): JobsOptions {
    return jobOptionsFor(this.options.config, attempts);
  }

  /**
   * The trigger of attribution passes after new inputs, on this runtime's
   * queues. `clock` times the debounce windows (real time by default: the
   * delay of a tick is real); the tick carries no `now`, so it judges by the
   * worker's clock when it runs.
   */
  attributionTrigger(clock: () => number = Date.now): AttributionTrigger {
    const def = attributeDefinition(this.options.jobs);
    const add = def === undefined ? undefined : (id: string, delay: number): Promise<unknown> => this.queue(def.queue).add(def.name, {}, { ...this.jobOptions(def.attempts), jobId: id, delay });
    return new QueueTrigger(add, this.options.config.jobs.attributeDebounceMs, clock, this.options.log);
  }

  /**
   * Work out the freshness of attribution (attributedThrough) now, on this
   * process's worker warehouse, and keep it in Redis; resolves once a run
   * that started after the call has finished. Workers call it after each
   * pass, after an `attribute` tick that owed nothing, and when the hour turns.
   */
  refreshFreshness(): Promise<void> {
    this.freshnessWanted = true;
    this.freshnessLoop ??= (async () => {
      try {
        while (this.freshnessWanted && !this.closing) {
          this.freshnessWanted = false;
          await this.workOutFreshness();
        }
      } finally {
        this.freshnessLoop = undefined;
      }
    })();
    return this.freshnessLoop;
  }

  private async workOutFreshness(): Promise<void> {
    const { warehouse } = this;
    if (!warehouse) return;
    const { config } = this.options;
    const now = this.clock();
    try {
      // The database's settings, as the jobs use them; configured ones that conflict fail the jobs, not this.
      const settings = await attributionSettingsFor(warehouse, config.attribution, { readOnly: true, by: 'freshness' })
        .catch((err: unknown) => { if (err instanceof AttributionSettingsConflict) return err.recorded.settings; throw err; });
      const { through, openDays } = await attributedThrough(warehouse, settings, billingStartDay(config, now), now);
      const record: FreshnessRecord = { through: new Date(through).toISOString(), at: new Date(now).toISOString(), openDays };
      this.freshnessLocal = record;
      this.freshnessHour = hourWindow(now);
      await this.connection.set(`${config.jobs.prefix}:freshness`, JSON.stringify(record));
    } catch (err) {
      if (!this.closing) this.connectionError(new Error(`freshness not worked out: ${(err as Error).message}`));
    }
  }

  /** The freshness a worker last worked out (Redis, else this process's own), aged to now; undefined before any. */
  async freshness(): Promise<Freshness | undefined> {
    const stored = await Promise.race([
      this.connection.get(`${this.options.config.jobs.prefix}:freshness`),
      new Promise<undefined>((r) => { setTimeout(() => { r(undefined); }, 1000).unref(); }),
    ]).catch(() => undefined);
    let record = this.freshnessLocal;
    if (typeof stored === 'string') {
      const parsed = freshnessRecord.safeParse(parseJson(stored));
      if (parsed.success && (record === undefined || parsed.data.at >= record.at)) record = parsed.data;
    }
    if (record === undefined) return undefined;
    return { ...record, seconds: Math.max(0, (this.clock() - Date.parse(record.through)) / 1000) };
  }

  queue(name: QueueName): Queue {
    const queue = this.queues.get(name);
    if (!queue) throw new Error(`no queue ${name}`);
    return queue;
  }

  private definition(name: string): JobDefinition | undefined {
    return this.options.jobs.find((j) => j.name === name);
  }

  private scheduleOf(name: JobName): string | undefined {
    const schedules: Partial<Record<string, string>> = this.options.config.jobs.schedules;
    return schedules[name] ?? this.definition(name)?.schedule;
  }

  /** Upsert every scheduled job (stable id = job name, cron in UTC), then tick once to catch up. */
  async startScheduler(): Promise<void> {
    try {
      for (const def of this.options.jobs) {
        if (def.schedule === undefined) continue;
        await this.queue(def.queue).upsertJobScheduler(def.name, { pattern: this.scheduleOf(def.name) ?? def.schedule, tz: 'UTC' }, { name: def.name, data: {}, opts: this.jobOptions(def.attempts) });
      }
      await this.tick();
      this.schedulerOk = true;
    } catch (err) {
      this.schedulerOk = false;
      this.lastSchedulerError = (err as Error).message;
      throw err;
    }
  }

  /**
   * One tick of every scheduled job, for the hour `now` falls in. The id is
   * (job, hour), so schedulers started together, or restarted, add it once.
   */
  async tick(now = this.clock()): Promise<void> {
    for (const def of this.options.jobs) {
      if (def.schedule === undefined) continue;
      await this.addTick(def.name, jobId(def.name, hourWindow(now)), { now: new Date(now).toISOString() });
    }
  }

  private async addTick(name: JobName, id: string, data: Record<string, unknown>): Promise<void> {
    const def = this.definition(name);
    if (!def) throw new Error(`unknown job ${name}`);
    await this.queue(def.queue).add(name, data, { ...this.jobOptions(def.attempts), jobId: id });
  }

  /** Whether a job id is unknown to its job's queue (never added, or removed since). */
  private async isNew(job: FlowJob): Promise<boolean> {
    const def = this.definition(job.name);
    if (!def) throw new Error(`unknown job ${job.name}`);
    return (await this.queue(def.queue).getJobState(job.id)) === 'unknown';
  }

  /** A parent that runs once all its children have, added as one BullMQ flow. */
  private async addFlow(parent: FlowJob, children: readonly FlowJob[]): Promise<void> {
    const node = (job: FlowJob) => {
      const def = this.definition(job.name);
      if (!def) throw new Error(`unknown job ${job.name}`);
      const priority = job.priority === undefined ? {} : { priority: job.priority };
      return { name: job.name, queueName: def.queue, data: job.data, opts: { ...this.jobOptions(def.attempts), jobId: job.id, ...priority } };
    };
    try {
      await this.flow.add({
        ...node(parent),
        // A child that fails for good does not hold its parent back: the parent's run reports what is missing.
        children: children.map((c) => { const n = node(c); return { ...n, opts: { ...n.opts, ignoreDependencyOnFailure: true } }; }),
      });
    } catch (err) {
      // Another scheduler enqueued the same children in a flow of its own first: that run stands.
      this.options.log(`jobs: flow ${parent.id} not added whole: ${(err as Error).message}`);
    }
  }

  private reportOwed(job: JobName, owed: number): void {
    this.owedGauge.set({ job }, owed);
    this.connection.hset(`${this.options.config.jobs.prefix}:owed`, job, JSON.stringify({ owed, at: new Date(this.clock()).toISOString() })).catch(() => undefined);
  }

  /** A worker per queue, serving every registered job of it through one wrapper. */
  startWorkers(warehouse: Warehouse): void {
    const { config, log } = this.options;
    this.warehouse = warehouse;
    const ctx: JobContext = {
      warehouse,
      config,
      redis: this.connection,
      clock: this.clock,
      log,
      reportOwed: (job, owed) => { this.reportOwed(job, owed); },
      enqueue: {
        tick: (job, id, data) => this.addTick(job, id, data),
        isNew: (job) => this.isNew(job),
        flow: (parent, children) => this.addFlow(parent, children),
      },
    };
    for (const queueName of Object.values(QUEUES)) {
      const connection = new Redis(config.redis.url, { maxRetriesPerRequest: null });
      connection.on('error', (err) => { this.connectionError(err); });
      this.workerConnections.push(connection);
      const worker = new Worker(queueName, (job, token) => this.process(ctx, job, token), {
        connection,
        prefix: config.jobs.prefix,
        concurrency: config.jobs.concurrency,
        // A killed worker's job is noticed after lockDuration and run again; a few stalls are tolerated before it fails.
        lockDuration: 30_000,
        maxStalledCount: 3,
      });
      worker.on('failed', (job, err) => { log(`jobs: ${job?.name ?? '?'} ${job?.id ?? ''} failed (attempt ${job?.attemptsMade ?? 0}): ${err.message}`); });
      worker.on('stalled', (id) => { log(`jobs: job ${id} stalled (its worker stopped answering); it runs again`); });
      // A pass has finished, or a tick found nothing owed (one that owed days leaves it to its pass): freshness may have moved.
      worker.on('completed', (job) => {
        if (job.name === JOBS.rollups || (job.name === JOBS.attribute && outcomeShape(job.returnvalue).owed === 0)) void this.refreshFreshness();
      });
      worker.on('error', (err) => { this.connectionError(err); });
      this.workers.push(worker);
    }
    // A new hour moves freshness with no pass (an hour with nothing new is attributed as it ends).
    void this.refreshFreshness();
    this.freshnessTimer = setInterval(() => { if (hourWindow(this.clock()) !== this.freshnessHour) void this.refreshFreshness(); }, 60_000);
    this.freshnessTimer.unref();
  }

  private async process(ctx: JobContext, job: Job, token: string | undefined): Promise<JobOutcome> {
    const def = this.definition(job.name);
    if (!def) throw new UnrecoverableError(`no job named ${JSON.stringify(job.name)} in the registry`);
    const parsed = def.payload.safeParse(job.data);
    if (!parsed.success) {
      this.failures.inc({ job: job.name, final: 'true' });
      throw new UnrecoverableError(`bad payload for ${job.name}: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(payload)'}: ${i.message}`).join('; ')}`);
    }
    const end = this.duration.startTimer({ job: job.name });
    const key = `${job.queueName}/${job.id ?? ''}`;
    this.active.set(key, { job, token });
    try {
      const outcome = await def.handler(ctx, parsed.data, job);
      end({ outcome: 'ok' });
      this.rowsWritten.inc({ job: job.name }, outcome.rowsWritten);
      return outcome;
    } catch (err) {
      if (err instanceof DelayedError) {
        end({ outcome: 'delayed' });
      } else {
        end({ outcome: 'failed' });
        const final = err instanceof UnrecoverableError || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
        this.failures.inc({ job: job.name, final: String(final) });
      }
      throw err;
    } finally {
      this.active.delete(key);
    }
  }

  health(): RuntimeHealth {
    const problems: string[] = [];
    if (this.connection.status !== 'ready') problems.push(`redis is ${this.connection.status}`);
    if (this.schedulerOk === false) problems.push(`scheduler: ${this.lastSchedulerError}`);
    for (const worker of this.workers) if (!worker.isRunning()) problems.push(`worker ${worker.name} is not running`);
    return { ok: problems.length === 0, detail: { problems, workers: this.workers.length, activeJobs: this.active.size, scheduler: this.schedulerOk ?? 'off' } };
  }

  /**
   * Stop taking jobs; let running ones finish within `graceMs`, then hand
   * them back to the queue (another worker runs them again) and close.
   * Bounded even when Redis is unreachable.
   */
  async close(graceMs: number): Promise<boolean> {
    this.closing = true;
    clearInterval(this.freshnessTimer);
    const deadline = (ms: number): Promise<'timeout'> => new Promise((resolve) => { setTimeout(() => { resolve('timeout'); }, ms).unref(); });
    const closing = Promise.all(this.workers.map((w) => w.close()));
    let clean = (await Promise.race([closing.then(() => 'closed' as const), deadline(graceMs)])) === 'closed';
    if (!clean) {
      this.options.log(`jobs: ${this.active.size} job(s) still running after ${graceMs} ms: handing them back to the queue`);
      await Promise.race([
        Promise.allSettled([...this.active.values()].map(({ job, token }) => job.moveToWait(token))),
        deadline(1000),
      ]);
      await Promise.race([Promise.allSettled(this.workers.map((w) => w.close(true))), deadline(1000)]);
    }
    // Freshness being worked out reads the warehouse its caller closes next.
    await Promise.race([this.freshnessLoop, deadline(1000)]);
    const others = Promise.allSettled([...[...this.queues.values()].map((q) => q.close()), this.flow.close()]);
    if ((await Promise.race([others.then(() => 'closed' as const), deadline(1000)])) !== 'closed') clean = false;
    for (const connection of [this.connection, ...this.workerConnections]) connection.disconnect();
    return clean;
  }

  /** Enqueue a tick of a job now, through the same queue the scheduler uses. */
  async runNow(name: string, window: { from?: string; to?: string }): Promise<string> {
    const def = this.definition(name);
    if (!def || def.schedule === undefined) throw new Error(`jobs run takes a scheduled job: ${this.options.jobs.filter((j) => j.schedule !== undefined).map((j) => j.name).join(', ')}`);
    const now = this.clock();
    const id = jobId(def.name, 'manual', String(now));
    await this.queue(def.queue).add(def.name, { now: new Date(now).toISOString(), ...window }, { ...this.jobOptions(def.attempts), jobId: id });
    return id;
  }

  /** Retry failed jobs: one by id, or every failed job of a name. Returns the ids retried. */
  async retry(nameOrId: string): Promise<string[]> {
    const retried: string[] = [];
    for (const queue of this.queues.values()) {
      const one = await queue.getJob(nameOrId);
      if (one) {
        if ((await one.getState()) !== 'failed') throw new Error(`job ${nameOrId} is ${await one.getState()}, not failed`);
        await one.retry('failed');
        return [nameOrId];
      }
    }
    const def = this.definition(nameOrId);
    if (!def) throw new Error(`no job or job id ${JSON.stringify(nameOrId)}`);
    for (const job of await this.queue(def.queue).getJobs(['failed'])) {
      if (job.name !== def.name || job.id === undefined) continue;
      const full = await this.queue(def.queue).getJob(job.id);
      await full?.retry('failed');
      retried.push(job.id);
    }
    return retried;
  }

  /** What `jobs list` prints: per job, schedule, last run, duration, rows, last error, next run, windows owed. */
  async list(): Promise<JobStatus[]> {
    const owed = await this.connection.hgetall(`${this.options.config.jobs.prefix}:owed`);
    const freshness = await this.freshness();
    const statuses: JobStatus[] = [];
    for (const def of this.options.jobs) {
      const queue = this.queue(def.queue);
      const scheduler = def.schedule === undefined ? undefined : await queue.getJobScheduler(def.name);
      const finished = (await queue.getJobs(['completed', 'failed'], 0, 200)).filter((j) => j.name === def.name);
      const last = finished.sort((a, b) => (b.finishedOn ?? 0) - (a.finishedOn ?? 0))[0];
      const lastFailed = finished.find((j) => j.failedReason);
      const counts = await queue.getJobCounts('wait', 'prioritized', 'active', 'failed');
      const owedEntry = owed[def.name] === undefined ? undefined : (JSON.parse(owed[def.name] ?? '{}') as { owed?: number; at?: string });
      statuses.push({
        name: def.name,
        queue: def.queue,
        schedule: def.schedule === undefined ? `(enqueued by ${def.enqueuedBy ?? 'another job'})` : `${this.scheduleOf(def.name) ?? ''} UTC`,
        nextRun: scheduler?.next === undefined ? '' : new Date(scheduler.next).toISOString(),
        lastRun: last?.finishedOn === undefined ? '' : new Date(last.finishedOn).toISOString(),
        lastState: last === undefined ? '' : last.failedReason ? 'failed' : 'completed',
        durationMs: last?.finishedOn !== undefined && last.processedOn !== undefined ? last.finishedOn - last.processedOn : null,
        rowsWritten: last === undefined || last.failedReason ? null : (outcomeShape(last.returnvalue).rowsWritten ?? null),
        lastError: lastFailed?.failedReason ?? '',
        owed: owedEntry?.owed ?? null,
        owedAt: owedEntry?.at ?? '',
        waiting: (counts['wait'] ?? 0) + (counts['prioritized'] ?? 0),
        active: counts['active'] ?? 0,
        failed: counts['failed'] ?? 0,
        freshnessSeconds: def.name === JOBS.attribute && freshness ? freshness.seconds : null,
        attributedThrough: def.name === JOBS.attribute && freshness ? freshness.through : '',
      });
    }
    return statuses;
  }
}
