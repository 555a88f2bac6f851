/**
 * backup: the scheduled backups of the embedded warehouse into backup.dir
 * (`<timestamp>/` each, the newest backup.keep kept), by runScheduledBackup.
 * Its cron only looks: every 15 minutes, and on every start, it works out
 * from the backups already there whether backup.schedule has come round
 * since the newest one, so a service that was down at the time catches up.
 * Off (a no-op) while backup.dir is unset. On the reports queue: like the
 * packs, it writes files out of the warehouse, and a queue of its own would
 * add one more worker for a job that runs a few times a day.
 */
import { runScheduledBackup } from '../src/backup/scheduled-backups.js';
import { JOBS, QUEUES, backupPayload } from '../src/scheduler/contract.js';
import { defineJob, runInstant } from '../src/scheduler/job.js';

export const backupJob = defineJob({
  name: JOBS.backup,
  queue: QUEUES.reports,
  schedule: '*/15 * * * *',
  payload: backupPayload,
  handler: async (ctx, payload) => {
    const outcome = await runScheduledBackup(ctx.warehouse, ctx.config.backup, runInstant(ctx, payload), ctx.log);
    return { windows: outcome.taken === undefined ? [] : [outcome.taken], rowsWritten: 0, note: outcome.note };
  },
});
