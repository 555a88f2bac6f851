/**
 * rollups: the parent of an attribution flow, run once every attribute-day
 * child has finished. Today attribution itself writes the daily tables that
 * reports and alerts read (cpp_daily, coverage_daily), so this step gathers
 * the children's outcomes into one record of the pass (days, rows written,
 * days that failed); the report and alert jobs attach here when they land.
 */
import { JOBS, QUEUES, rollupsPayload } from '../src/scheduler/contract.js';
import { defineJob, type JobOutcome } from '../src/scheduler/job.js';

export const rollupsJob = defineJob({
  name: JOBS.rollups,
  queue: QUEUES.rollups,
  payload: rollupsPayload,
  handler: async (_ctx, payload, job) => {
    const values = Object.values(await job.getChildrenValues<JobOutcome>());
    const failed = Object.keys(await job.getIgnoredChildrenFailures());
    return {
      windows: payload.days,
      rowsWritten: values.reduce((n, v) => n + v.rowsWritten, 0),
      note: `${values.length} day(s) attributed${failed.length > 0 ? `, ${failed.length} failed: ${failed.join(', ')}` : ''}`,
    };
  },
});
