/**
 * attribute, hourly: finds every UTC day whose inputs changed since it was
 * last attributed (a new billing version overlapping it, late requests, other
 * settings) from the watermarks in attribution_runs, and enqueues one
 * attribute-day job per owed day, oldest first, as the children of a rollups
 * flow. An unchanged day is never recomputed; a changed one always is.
 * The settings are the database's (attributionSettingsFor): a service that
 * configures none attributes with those recorded; one that configures others
 * fails at once, before owing or writing anything, until they are adopted.
 */
import { UnrecoverableError } from 'bullmq';
import { dropStaleStagingTables, type AttributionSettings } from '../src/attribution/attribute.js';
import { AttributionSettingsConflict, RecordedSettingsError, attributionSettingsFor, type SettingsOptions } from '../src/attribution/recorded-settings.js';
import { DAY_MS, dayStart, formatDate, parseDate } from '../src/util/time.js';
import { JOBS, QUEUES, fingerprint, jobId, tickPayload } from '../src/scheduler/contract.js';
import { defineJob, runInstant, type JobContext } from '../src/scheduler/job.js';
import { attributionInputs, billingStartDay } from '../src/scheduler/watermarks.js';
import { enqueueAttributionDays } from './attribution-flow.js';

/**
 * The attribution settings a job uses against the warehouse: the database's,
 * asked once at the start of the job. Other configured settings will not
 * heal by retrying: the job fails at once with what differs.
 */
export async function jobAttributionSettings(ctx: Pick<JobContext, 'warehouse' | 'config' | 'log'>, options: Pick<SettingsOptions, 'by' | 'readOnly'>): Promise<AttributionSettings> {
  try {
    return await attributionSettingsFor(ctx.warehouse, ctx.config.attribution, { ...options, log: ctx.log });
  } catch (err) {
    if (err instanceof AttributionSettingsConflict || err instanceof RecordedSettingsError) throw new UnrecoverableError(err.message);
    throw err;
  }
}

export const attributeJob = defineJob({
  name: JOBS.attribute,
  queue: QUEUES.attribute,
  schedule: '15 * * * *',
  payload: tickPayload,
  handler: async (ctx, payload, job) => {
    const now = runInstant(ctx, payload);
    const window = payload.from !== undefined && payload.to !== undefined ? { from: parseDate(payload.from), to: parseDate(payload.to) } : undefined;
    const forced = window !== undefined;
    const from = window?.from ?? billingStartDay(ctx.config, now);
    const to = window?.to ?? dayStart(now) + DAY_MS;
    const settings = await jobAttributionSettings(ctx, { by: `job ${JOBS.attribute}` });
    await dropStaleStagingTables(ctx.warehouse);
    // A forced window recomputes every day of it that has inputs or a past run; a tick only what changed.
    const days = await attributionInputs(ctx.warehouse, settings, from, to, !forced);
    ctx.reportOwed(JOBS.attribute, days.length);
    const runTag = forced ? `-run${fingerprint(job.id)}` : '';
    const children = days.map((d) => ({
      day: d.day,
      inputVersion: d.inputVersion,
      force: forced,
      id: jobId(JOBS.attributeDay, d.day, `${d.inputVersion}${runTag}`),
    }));
    const enqueued = children.length === 0 ? 0 : await enqueueAttributionDays(ctx, children, jobId(JOBS.rollups, formatDate(now), fingerprint(children.map((c) => c.id))));
    return { windows: days.map((d) => d.day), rowsWritten: 0, owed: days.length, note: `${enqueued} day(s) enqueued` };
  },
});
