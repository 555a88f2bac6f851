import { QUEUES } from '../../src/scheduler/contract.js';
import type { JobRuntime } from '../../src/scheduler/runtime.js';
import { waitFor } from './wait.js';

/**
 * Until no queue holds a job still to run (waiting, active, delayed, or a
 * parent waiting on children); the next cron iteration of a job scheduler
 * (delayed, id `repeat:...`) is not work still to run.
 */
export async function queuesSettled(r: JobRuntime, timeoutMs: number): Promise<void> {
  await waitFor(async () => {
    for (const name of Object.values(QUEUES)) {
      const counts = await r.queue(name).getJobCounts('wait', 'active', 'prioritized', 'waiting-children');
      if (Object.values(counts).some((n) => n > 0)) return false;
      const delayed = await r.queue(name).getJobs(['delayed']);
      if (delayed.some((j) => !String(j.id).startsWith('repeat:'))) return false;
    }
    return true;
  }, { what: 'the queues to drain', timeoutMs });
}
