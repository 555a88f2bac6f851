/**
 * attribute-day: recomputes one UTC day (attributeDay: staging tables, then
 * a partition swap) and records the inputs it read in attribution_runs. Holds
 * the day's lock in Redis, so two runs of one day never overlap; a run that
 * finds the day current (another run got there first) does nothing. The
 * settings are the database's (attributionSettingsFor), asked at the start.
 */
import { DelayedError } from 'bullmq';
import { attributeDay } from '../src/attribution/attribute.js';
import { jobAttributionSettings } from './attribute.job.js';
import { JOBS, QUEUES, attributeDayPayload } from '../src/scheduler/contract.js';
import { LockBusyError, withLock } from '../src/scheduler/day-lock.js';
import { defineJob } from '../src/scheduler/job.js';
import { dayInputs, recordAttributionRun } from '../src/scheduler/watermarks.js';
import { parseDate } from '../src/util/time.js';

/** How long a run waits before trying a locked day again. */
const LOCKED_RETRY_MS = 2_000;

export const attributeDayJob = defineJob({
  name: JOBS.attributeDay,
  queue: QUEUES.attribute,
  enqueuedBy: 'attribute',
  payload: attributeDayPayload,
  handler: async (ctx, payload, job) => {
    const day = parseDate(payload.day);
    const settings = await jobAttributionSettings(ctx, { by: `job ${JOBS.attributeDay}` });
    try {
      return await withLock(ctx.redis, `${ctx.config.jobs.prefix}:lock:attribute-day:${payload.day}`, ctx.config.jobs.dayLockMs, async (lost) => {
        // Read before computing: data landing during the run makes the day owed again, never silently current.
        const inputs = await dayInputs(ctx.warehouse, settings, day);
        if (!payload.force && !inputs.owed) return { windows: [payload.day], rowsWritten: 0, note: 'already current' };
        const started = Date.now();
        const result = await attributeDay(ctx.warehouse, settings, day);
        if (lost.aborted) throw new Error(`lost the lock of ${payload.day} while attributing it; it is run again`);
        await recordAttributionRun(ctx.warehouse, settings, inputs, result, started, job.id ?? '');
        return { windows: [payload.day], rowsWritten: Object.values(result.rows).reduce((a, n) => a + n, 0) };
      });
    } catch (err) {
      if (!(err instanceof LockBusyError)) throw err;
      // Another run holds the day: wait for it without spending an attempt.
      await job.moveToDelayed(Date.now() + LOCKED_RETRY_MS, job.token);
      throw new DelayedError(err.message);
    }
  },
});
