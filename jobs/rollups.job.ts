/**
 * rollups: the parent of an attribution flow, run once every attribute-day
 * child has finished. Attribution itself writes the daily tables that
 * reports and alerts read (cpp_daily, coverage_daily), so this step gathers
 * the children's outcomes into one record of the pass (days, rows written,
 * days that failed), then enqueues what reads them: alerts-evaluate for the
 * days the pass touched and report-chargeback (a month may have turned
 * final), with ids from the pass, so a pass enqueues each once.
 */
import { JOBS, QUEUES, fingerprint, jobId, rollupsPayload } from '../src/scheduler/contract.js';
import { defineJob, type JobOutcome } from '../src/scheduler/job.js';

export const rollupsJob = defineJob({
  name: JOBS.rollups,
  queue: QUEUES.rollups,
  enqueuedBy: 'attribute, after its days',
  payload: rollupsPayload,
  handler: async (ctx, payload, job) => {
    const values = Object.values(await job.getChildrenValues<JobOutcome>());
    const failed = Object.keys(await job.getIgnoredChildrenFailures());
    const days = [...payload.days].sort();
    if (days.length > 0) {
      const window = `${days[0] ?? ''}..${days.at(-1) ?? ''}`;
      const pass = fingerprint(job.id ?? '', days);
      const now = new Date(ctx.clock()).toISOString();
      await ctx.enqueue.tick(JOBS.alertsEvaluate, jobId(JOBS.alertsEvaluate, window, pass), { now, days });
      await ctx.enqueue.tick(JOBS.reportChargeback, jobId(JOBS.reportChargeback, window, pass), { now });
    }
    return {
      windows: payload.days,
      rowsWritten: values.reduce((n, v) => n + v.rowsWritten, 0),
      note: `${values.length} day(s) attributed${failed.length > 0 ? `, ${failed.length} failed: ${failed.join(', ')}` : ''}`,
    };
  },
});
