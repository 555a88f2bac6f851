/**
 * What a job is: its name, queue, schedule, payload schema, retry policy and
 * handler. Handlers get their dependencies passed in (warehouse, config,
 * Redis, clock) and call the modules that do the work; none holds SQL.
 */
import type { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { z } from 'zod';
import type { Config } from '../config/config.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import type { JobName, QueueName } from './contract.js';

/** What a handler reports: shown by `jobs list`, kept as the BullMQ return value. */
export interface JobOutcome {
  /** Windows (UTC days, or the tick's hour) the run covered. */
  windows: string[];
  /** Rows written to the warehouse. */
  rowsWritten: number;
  /** Windows still owed after this run (a tick: what it enqueued). */
  owed?: number;
  note?: string;
}

/** Enqueue work from inside a handler: the same queues `jobs run` uses. */
export interface Enqueue {
  /** A tick of a scheduled job, deduplicated by its id. */
  tick(job: JobName, id: string, data: Record<string, unknown>): Promise<void>;
  /** Whether the job id was never added (or has been removed): a known id is not added again. */
  isNew(job: FlowJob): Promise<boolean>;
  /** A parent that waits for its children, added as one flow. */
  flow(parent: FlowJob, children: readonly FlowJob[]): Promise<void>;
}

/** One job of a flow: its deduplicating id and payload; a lower priority number runs earlier. */
export interface FlowJob {
  name: JobName;
  id: string;
  data: Record<string, unknown>;
  priority?: number;
}

export interface JobContext {
  warehouse: Warehouse;
  config: Config;
  redis: Redis;
  enqueue: Enqueue;
  /** Now, in epoch ms; injected by tests to cross hour, day and month boundaries. */
  clock: () => number;
  log: (line: string) => void;
  /** Report how many windows a job owes (metric and `jobs list`). */
  reportOwed: (job: JobName, owed: number) => void;
}

export interface JobDefinition<P extends z.ZodType = z.ZodType> {
  name: JobName;
  queue: QueueName;
  /** Cron pattern, always evaluated in UTC; absent for jobs only ever enqueued by another. */
  schedule?: string;
  /** For jobs without a schedule: what enqueues them, as `jobs list` shows it. */
  enqueuedBy?: string;
  payload: P;
  /** Attempts for transient errors (default: jobs.attempts). Bad input fails at once (UnrecoverableError). */
  attempts?: number;
  handler: (ctx: JobContext, payload: z.infer<P>, job: Job) => Promise<JobOutcome>;
}

/** The instant a run judges by: the time its tick stands for, else the worker's clock (cron-fired ticks carry none). */
export function runInstant(ctx: Pick<JobContext, 'clock'>, payload: { now?: string | undefined }): number {
  return payload.now === undefined ? ctx.clock() : Date.parse(payload.now);
}

/** Typed constructor: the handler's payload type follows from the schema. */
export function defineJob<P extends z.ZodType>(definition: JobDefinition<P>): JobDefinition<P> {
  return definition;
}
