/**
 * alerts-evaluate: CPP regression alerts (evaluateAlerts), with notifications
 * through the alerts' webhooks. Enqueued by the rollups of every attribution
 * pass with the days it touched, and hourly: each run evaluates every day
 * owed (attributed, or re-attributed, since it was last evaluated) that the
 * evaluator judges complete, and the current UTC day before it is complete on
 * its first complete hours (against the same hours of its baseline days), so
 * a regression opens within hours, not the next day. A restated day is
 * evaluated again and updates its open alert;
 * the alert store keeps one episode per key, so it never opens a second.
 * `jobs run --from --to` evaluates the days of the window again.
 */
import { DelayedError } from 'bullmq';
import { evaluateAlerts, type EvaluationResult } from '../src/alerts/evaluate.js';
import { DAY_MS, dayStart, formatDate, parseDate } from '../src/util/time.js';
import { JOBS, QUEUES, alertsEvaluatePayload } from '../src/scheduler/contract.js';
import { LockBusyError, withLock } from '../src/scheduler/day-lock.js';
import { defineJob, runInstant } from '../src/scheduler/job.js';

/** How long a run waits before trying again while another evaluation holds the lock. */
const LOCKED_RETRY_MS = 2_000;

export const alertsEvaluateJob = defineJob({
  name: JOBS.alertsEvaluate,
  queue: QUEUES.alerts,
  schedule: '40 * * * *',
  payload: alertsEvaluatePayload,
  handler: async (ctx, payload, job) => {
    const now = runInstant(ctx, payload);
    const settings = ctx.config.alerts;
    try {
      // One evaluation at a time: episodes move day by day, oldest first, and two runs would race on them.
      return await withLock(ctx.redis, `${ctx.config.jobs.prefix}:lock:alerts-evaluate`, ctx.config.jobs.dayLockMs, async () => {
        const results: EvaluationResult[] = [];
        if (payload.from !== undefined && payload.to !== undefined) {
          for (let d = parseDate(payload.from); d < parseDate(payload.to); d += DAY_MS) {
            results.push(await evaluateAlerts(ctx.warehouse, ctx.config, { day: formatDate(d), now: new Date(now) }));
          }
        } else {
          // The evaluator looks back alerts.lookbackDays; a pass that touched older days stretches that to reach them.
          const oldest = [...(payload.days ?? [])].sort()[0];
          const reach = oldest === undefined ? 0 : Math.ceil((dayStart(now) - parseDate(oldest)) / DAY_MS);
          const lookbackDays = Math.max(settings.lookbackDays, reach);
          results.push(await evaluateAlerts(ctx.warehouse, { alerts: { ...settings, lookbackDays } }, { now: new Date(now) }));
        }
        const days = results.flatMap((r) => r.days);
        const transitions = results.flatMap((r) => r.transitions);
        const failed = results.flatMap((r) => r.deliveries).filter((d) => d.outcome === 'failed');
        // A day judged only on its first hours is still owed its complete evaluation.
        const waiting = days.filter((d) => d.status !== 'evaluated');
        ctx.reportOwed(JOBS.alertsEvaluate, waiting.length);
        // A failed delivery is sent again by a later evaluation (the deliveries table says what went out).
        for (const d of failed) ctx.log(`alerts-evaluate: delivery ${d.dedupeKey} to ${d.webhook} failed: ${d.error ?? 'unknown error'}`);
        const count = (t: string): number => transitions.filter((x) => x.transition === t).length;
        const lastWait = waiting.at(-1);
        return {
          windows: days.filter((d) => d.status === 'evaluated').map((d) => d.day),
          rowsWritten: transitions.length + days.length - waiting.length,
          owed: waiting.length,
          note: [
            `${days.length - waiting.length} day(s) evaluated, ${count('opened')} opened, ${count('updated')} updated, ${count('escalated')} escalated, ${count('resolved')} resolved`,
            ...(lastWait ? [`${waiting.length} waiting (${lastWait.day}: ${lastWait.reason ?? ''})`] : []),
            ...days.filter((d) => d.status === 'partial').map((d) => `${d.day} judged on its first ${d.hours} hours`),
            ...days.filter((d) => d.budgetsSkipped !== undefined).map((d) => `${d.day} budgets skipped: ${d.budgetsSkipped ?? ''}`),
            ...(failed.length > 0 ? [`${failed.length} delivery(ies) failed`] : []),
          ].join('; '),
        };
      });
    } catch (err) {
      if (!(err instanceof LockBusyError)) throw err;
      await job.moveToDelayed(Date.now() + LOCKED_RETRY_MS, job.token);
      throw new DelayedError(err.message);
    }
  },
});
