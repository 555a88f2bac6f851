/**
 * retention, daily: applies retention.requestDays and retention.rejectDays
 * (applyRetention): whole months of raw requests and refused lines older than
 * the horizon are dropped, a month of requests only once the hourly groups of
 * its days are verified against its raw rows. What it refuses stays, and is
 * tried again the next day (the job reports it as owed). Off while
 * retention.scheduled is false. One run at a time (a lock in Redis); on a
 * queue of its own, so a month's checks never hold up attribution or reports.
 */
import { applyRetention } from '../src/retention/apply.js';
import { JOBS, QUEUES, retentionPayload } from '../src/scheduler/contract.js';
import { LockBusyError, withLock } from '../src/scheduler/day-lock.js';
import { defineJob, runInstant } from '../src/scheduler/job.js';

export const retentionJob = defineJob({
  name: JOBS.retention,
  queue: QUEUES.retention,
  schedule: '30 4 * * *',
  payload: retentionPayload,
  handler: async (ctx, payload, job) => {
    if (!ctx.config.retention.scheduled) return { windows: [], rowsWritten: 0, note: 'retention.scheduled is off' };
    const now = runInstant(ctx, payload);
    try {
      return await withLock(ctx.redis, `${ctx.config.jobs.prefix}:lock:retention`, ctx.config.jobs.dayLockMs, async () => {
        const result = await applyRetention(ctx.warehouse, ctx.config, { now, jobId: job.id ?? '' });
        const partitions = result.tables.flatMap((t) => t.partitions.map((p) => ({ ...p, table: t.table })));
        const dropped = partitions.filter((p) => p.action === 'dropped');
        const refused = partitions.filter((p) => p.action === 'refused');
        ctx.reportOwed(JOBS.retention, refused.length);
        for (const p of refused) ctx.log(`retention: ${p.table} ${p.partition} kept: ${p.reasons.join('; ')}`);
        return {
          windows: dropped.map((p) => `${p.table}/${p.partition}`),
          rowsWritten: result.rowsWritten,
          owed: refused.length,
          note: [
            ...result.tables.map((t) => `${t.table}: horizon ${t.horizon} (${t.keepDays} days)`),
            dropped.length > 0 ? `dropped ${dropped.map((p) => `${p.table} ${p.partition} (${p.rows} rows)`).join(', ')}` : 'nothing to drop',
            ...(refused.length > 0 ? [`kept ${refused.map((p) => `${p.table} ${p.partition}`).join(', ')} (see the log)`] : []),
          ].join('; '),
        };
      });
    } catch (err) {
      if (!(err instanceof LockBusyError)) throw err;
      return { windows: [], rowsWritten: 0, note: 'another retention run holds the lock' };
    }
  },
});
