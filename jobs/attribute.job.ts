/**
 * attribute, hourly: finds every UTC day whose inputs changed since it was
 * last attributed (a new billing version overlapping it, late requests, other
 * settings) from the watermarks in attribution_runs, and enqueues one
 * attribute-day job per owed day, oldest first, as the children of a rollups
 * flow. An unchanged day is never recomputed; a changed one always is.
 */
import { dropStaleStagingTables } from '../src/attribution/attribute.js';
import { DAY_MS, dayStart, formatDate, parseDate } from '../src/util/time.js';
import { JOBS, QUEUES, fingerprint, jobId, tickPayload } from '../src/scheduler/contract.js';
import { defineJob, runInstant } from '../src/scheduler/job.js';
import { attributionInputs, billingStartDay } from '../src/scheduler/watermarks.js';

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
    await dropStaleStagingTables(ctx.warehouse);
    // A forced window recomputes every day of it that has inputs or a past run; a tick only what changed.
    const days = await attributionInputs(ctx.warehouse, ctx.config.attribution, from, to, !forced);
    ctx.reportOwed(JOBS.attribute, days.length);
    const runTag = forced ? `-run${fingerprint(job.id)}` : '';
    const children = days.map((d) => ({
      day: d.day,
      inputVersion: d.inputVersion,
      force: forced,
      id: jobId(JOBS.attributeDay, d.day, `${d.inputVersion}${runTag}`),
    }));
    const enqueued = children.length === 0 ? 0 : await ctx.enqueue.attributionFlow(children, jobId(JOBS.rollups, formatDate(now), fingerprint(children.map((c) => c.id))));
    return { windows: days.map((d) => d.day), rowsWritten: 0, owed: days.length, note: `${enqueued} day(s) enqueued` };
  },
});
