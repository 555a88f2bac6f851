/**
 * The jobs runtime on BullMQ: queues, the scheduler (job schedulers upserted
 * with stable ids, cron in UTC, plus a catch-up tick on start), and one worker
 * wrapper that validates payloads, runs the registered handler, records
 * metrics and logs failures. Nothing starts on import: a caller opens a
 * runtime and starts the parts its role needs.
 */
import { DelayedError, FlowProducer, Queue, UnrecoverableError, Worker, type Job, type JobsOptions } from 'bullmq';
import { Redis } from 'ioredis';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Config } from '../config/config.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { QUEUES, hourWindow, jobId, type JobName, type QueueName } from './contract.js';
import type { FlowJob, JobContext, JobDefinition, JobOutcome } from './job.js';

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
}

const outcomeShape = (v: unknown): Partial<JobOutcome> => (v !== null && typeof v === 'object' ? v : {});

export class JobRuntime {
  readonly registry = new Registry();
  private readonly duration = new Histogram({ name: 'inferledger_job_duration_seconds', help: 'Run time of jobs, by job and outcome', labelNames: ['job', 'outcome'], buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 1800], registers: [this.registry] });
  private readonly failures = new Counter({ name: 'inferledger_job_failures_total', help: 'Failed job attempts, by job and whether they will be retried', labelNames: ['job', 'final'], registers: [this.registry] });
  private readonly rowsWritten = new Counter({ name: 'inferledger_job_rows_written_total', help: 'Warehouse rows written by jobs', labelNames: ['job'], registers: [this.registry] });
  private readonly owedGauge = new Gauge({ name: 'inferledger_job_windows_owed', help: 'Windows (UTC days) a job found owed on its last run', labelNames: ['job'], registers: [this.registry] });
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
    return {
      attempts,
      backoff: { type: 'exponential', delay: this.options.config.jobs.backoffMs, jitter: 0.5 },
      // Finished jobs are kept for a week: their ids are what makes a duplicate trigger a no-op.
      removeOnComplete: { age: 7 * 86_400, count: 10_000 },
      removeOnFail: { age: 30 * 86_400, count: 10_000 },
    };
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
      worker.on('error', (err) => { this.connectionError(err); });
      this.workers.push(worker);
    }
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
      });
    }
    return statuses;
  }
}
