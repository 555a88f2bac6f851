/**
 * The job contract: queue names, job names and the zod payload of each job,
 * in one place, so the scheduler, the workers and the CLI agree on them. A
 * processor parses `job.data` with these schemas before doing anything.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { isUtcDay, UTC_DAY } from '../util/time.js';

/** One queue per kind of work: a worker can be scaled per queue, and one queue's backlog does not hold up another. */
export const QUEUES = {
  billingPull: 'billing-pull',
  attribute: 'attribute',
  rollups: 'rollups',
  alerts: 'alerts',
  reports: 'reports',
  retention: 'retention',
} as const;
export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];

/** Job names. `attribute` is the hourly planning tick; `attribute-day` recomputes one owed day. */
export const JOBS = {
  billingPull: 'billing-pull',
  attribute: 'attribute',
  attributeDay: 'attribute-day',
  rollups: 'rollups',
  alertsEvaluate: 'alerts-evaluate',
  reportChargeback: 'report-chargeback',
  backup: 'backup',
  retention: 'retention',
} as const;
export type JobName = (typeof JOBS)[keyof typeof JOBS];

const isoDay = z.string().regex(UTC_DAY, 'must be a UTC day, YYYY-MM-DD').refine(isUtcDay, 'is not a calendar day');
const isoInstant = z.iso.datetime({ offset: true });

const tickFields = {
  /** The time the tick stands for; the worker's clock when absent (cron-fired ticks carry none). */
  now: isoInstant.optional(),
  /** `jobs run --from --to`: these days are owed whatever the watermarks say. */
  from: isoDay.optional(),
  to: isoDay.optional(),
};
const windowRules = <T extends { from?: string | undefined; to?: string | undefined }>(schema: z.ZodType<T>): z.ZodType<T> =>
  schema.refine((p) => (p.from === undefined) === (p.to === undefined), { message: 'from and to go together', path: ['to'] })
    .refine((p) => p.from === undefined || p.to === undefined || p.from < p.to, { message: 'to must be after from', path: ['to'] });

/** A tick: the scheduler's time (injected in tests) and, for a manual run, an explicit window of days. */
export const tickPayload = windowRules(z.object(tickFields).strict());
export type TickPayload = z.infer<typeof tickPayload>;

/**
 * alerts-evaluate: a tick (hourly, or `jobs run` with a window evaluated
 * whatever was evaluated before), or the days an attribution pass touched
 * (enqueued by its rollups), which are evaluated again at their new attribution.
 */
export const alertsEvaluatePayload = windowRules(z.object({
  ...tickFields,
  days: z.array(isoDay).max(10_000).optional(),
}).strict());
export type AlertsEvaluatePayload = z.infer<typeof alertsEvaluatePayload>;

/** One UTC day to attribute, with the fingerprint of the inputs that made it owed. */
export const attributeDayPayload = z.object({
  day: isoDay,
  inputVersion: z.string().regex(/^[0-9a-f]{16}$/, 'must be 16 hex digits'),
  /** Recompute even when the watermarks say the day is current (`jobs run --from --to`). */
  force: z.boolean().default(false),
}).strict();
export type AttributeDayPayload = z.infer<typeof attributeDayPayload>;

/** The rollups parent of a flow: runs once every attribute-day child has finished. */
export const rollupsPayload = z.object({
  days: z.array(isoDay).max(10_000),
}).strict();
export type RollupsPayload = z.infer<typeof rollupsPayload>;

/** backup: a tick; whether a backup is due is worked out from the backups already in backup.dir. */
export const backupPayload = z.object({
  /** The time the tick stands for; the worker's clock when absent. */
  now: isoInstant.optional(),
}).strict();
export type BackupPayload = z.infer<typeof backupPayload>;

/** retention: a tick; the horizons are worked out from its time and the configuration (no window: `jobs run retention` takes none). */
export const retentionPayload = z.object({
  /** The time the tick stands for; the worker's clock when absent. */
  now: isoInstant.optional(),
}).strict();
export type RetentionPayload = z.infer<typeof retentionPayload>;

export const PAYLOADS = {
  [JOBS.billingPull]: tickPayload,
  [JOBS.attribute]: tickPayload,
  [JOBS.attributeDay]: attributeDayPayload,
  [JOBS.rollups]: rollupsPayload,
  [JOBS.alertsEvaluate]: alertsEvaluatePayload,
  [JOBS.reportChargeback]: tickPayload,
  [JOBS.backup]: backupPayload,
  [JOBS.retention]: retentionPayload,
} as const;

/**
 * A job id from (job, window, input version). BullMQ adds a job whose id
 * already exists as a no-op, so two schedulers, a restart or a duplicate
 * trigger cannot enqueue the same window twice. BullMQ refuses ':' in ids.
 */
export function jobId(job: JobName, window: string, inputVersion?: string): string {
  return [job, window, inputVersion].filter((p) => p !== undefined).join('_').replaceAll(':', '.');
}

/** A short, stable fingerprint of values (inputs of a window). */
export function fingerprint(...parts: readonly unknown[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 16);
}

/** The hour a tick stands for, as used in its job id: 2026-12-01T13. */
export function hourWindow(now: number): string {
  return new Date(now).toISOString().slice(0, 13);
}

/**
 * The attribute tick that follows new inputs (request rows written): one per
 * debounce window of `debounceMs`, run at the window's end, so every write of
 * the window is in the warehouse when it looks and a window adds one tick
 * however many writes it saw.
 */
export function freshAttributeTick(now: number, debounceMs: number): { id: string; runAt: number } {
  const window = Math.floor(now / debounceMs);
  return { id: jobId(JOBS.attribute, 'fresh', String(window)), runAt: (window + 1) * debounceMs };
}
