/**
 * billing-pull, hourly: first brings the rate cards' months up to date (the
 * current month as days pass, a month that settles, a change a crash left
 * unwritten: syncRateCards writes only months that differ), then pulls from
 * Cost Explorer the days still open (never pulled since jobs.billingStart,
 * still estimated, or in the current month), oldest first, then asks
 * attribution to look at what changed. Calls collectBilling, which writes
 * only days whose content changed.
 */
import { UnrecoverableError } from 'bullmq';
import { CollectError, collectBilling } from '../src/cost-explorer/collect-billing.js';
import { syncRateCards } from '../src/pricing/pricing.js';
import { DAY_MS, formatDate, parseDate } from '../src/util/time.js';
import { JOBS, QUEUES, jobId, tickPayload } from '../src/scheduler/contract.js';
import { defineJob, runInstant } from '../src/scheduler/job.js';
import { billingPullOwedDays, contiguousRanges } from '../src/scheduler/watermarks.js';

export const billingPullJob = defineJob({
  name: JOBS.billingPull,
  queue: QUEUES.billingPull,
  schedule: '5 * * * *',
  payload: tickPayload,
  handler: async (ctx, payload, job) => {
    const now = runInstant(ctx, payload);
    const cards = await syncRateCards(ctx.warehouse, ctx.config, now);
    const notes = cards.months.length > 0 ? [`rate cards: ${cards.months.map((m) => `${m.pool} ${m.month}`).join(', ')} rewritten`] : [];
    let days: number[] = [];
    let rows = 0;
    try {
      if (!ctx.config.jobs.billingPull) {
        notes.unshift('jobs.billingPull is off');
      } else {
        if (payload.from !== undefined && payload.to !== undefined) {
          for (let d = parseDate(payload.from); d < parseDate(payload.to); d += DAY_MS) days.push(d);
        } else {
          days = await billingPullOwedDays(ctx.warehouse, ctx.config, now);
        }
        ctx.reportOwed(JOBS.billingPull, days.length);
        for (const range of contiguousRanges(days)) {
          try {
            // Open days are pulled again on purpose: refresh, or final days of the open month would be skipped.
            const summary = await collectBilling(ctx.warehouse, ctx.config, { from: new Date(range.from), to: new Date(range.to), refresh: true, now }, ctx.log);
            rows += summary.accounts.reduce((n, a) => n + a.rows, 0);
          } catch (err) {
            // Bad data from the API (an amount that is not a decimal, a looping page token) will not heal by retrying.
            if (err instanceof CollectError) throw new UnrecoverableError(`billing-pull ${formatDate(range.from)}..${formatDate(range.to - DAY_MS)}: ${err.message}`);
            throw err;
          }
        }
        ctx.reportOwed(JOBS.billingPull, 0);
      }
    } finally {
      // What changed is attributed now, not at the next attribute tick: once for the cards and the bill together
      // (also when the pull failed after the cards were written).
      if (rows + cards.lines > 0) await ctx.enqueue.tick(JOBS.attribute, jobId(JOBS.attribute, 'after', job.id ?? String(now)), { now: new Date(now).toISOString() });
    }
    return { windows: days.map(formatDate), rowsWritten: rows + cards.lines, ...(notes.length === 0 ? {} : { note: notes.join('; ') }) };
  },
});
