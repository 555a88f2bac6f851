/**
 * report-chargeback: the chargeback packs of every month that is over, from
 * jobs.billingStart on, one per configured (by, idle) in report.scheduled,
 * written under report.outDir by runChargebackReport. A month's packs are
 * built at its status: estimated once the month is over (on the 1st, for the
 * month before), final once none of its billing is an estimate and no request
 * waits for its bill. Which months owe what comes from the warehouse
 * (report_runs, pool_cost, coverage_daily), not from the calendar, and packs
 * are immutable, so a month is built once per status, and not while any of
 * its days still owes attribution. Daily, and after every attribution pass
 * (a month turns final when its last estimate is restated and re-attributed).
 * Pool owners and the cost basis are the attribution settings the database
 * recorded (attributionSettingsFor), read once at the start.
 */
import { ReportError } from '../src/report/chargeback.js';
import { runChargebackReport } from '../src/report/run-report.js';
import { JOBS, QUEUES, tickPayload } from '../src/scheduler/contract.js';
import { LockBusyError, withLock } from '../src/scheduler/day-lock.js';
import { defineJob, runInstant } from '../src/scheduler/job.js';
import { attributionInputs, billingStartDay, recordReportRun, reportMonthsOwed } from '../src/scheduler/watermarks.js';
import { monthStart, parseDate, parseMonth } from '../src/util/time.js';
import { jobAttributionSettings } from './attribute.job.js';

export const reportChargebackJob = defineJob({
  name: JOBS.reportChargeback,
  queue: QUEUES.reports,
  schedule: '0 6 * * *',
  payload: tickPayload,
  handler: async (ctx, payload, job) => {
    const now = runInstant(ctx, payload);
    const attribution = await jobAttributionSettings(ctx, { by: `job ${JOBS.reportChargeback}`, readOnly: true });
    const config = { ...ctx.config, attribution };
    const forced = payload.from !== undefined && payload.to !== undefined ? { from: parseDate(payload.from), to: parseDate(payload.to) } : undefined;
    // Only months that are over: the current month never has a pack built by the schedule.
    const from = monthStart(forced ? forced.from : billingStartDay(config, now));
    const to = Math.min(monthStart(now), forced ? forced.to : Infinity);
    const owed = await reportMonthsOwed(ctx.warehouse, config, from, to);
    ctx.reportOwed(JOBS.reportChargeback, owed.length);
    const built: string[] = [];
    const notes: string[] = [];
    for (const { month: label } of owed) {
      const month = parseMonth(label);
      if (!month) throw new Error(`report-chargeback: month ${label} from the warehouse is not YYYY-MM`);
      try {
        await withLock(ctx.redis, `${ctx.config.jobs.prefix}:lock:report-chargeback:${label}`, ctx.config.jobs.dayLockMs, async () => {
          // A pass still attributing the month would leave an immutable pack half-built: its rollups call again.
          const unattributed = await attributionInputs(ctx.warehouse, attribution, Math.max(month.start, billingStartDay(config, now)), month.end, true);
          if (unattributed.length > 0) {
            notes.push(`${label} waits for the attribution of ${unattributed.length} day(s)`);
            return;
          }
          // Read again under the lock: another run may have built the month since.
          const [current] = await reportMonthsOwed(ctx.warehouse, config, month.start, month.end);
          for (const pack of current?.packs ?? []) {
            const basis = attribution.costBasis;
            const run = await runChargebackReport(ctx.warehouse, config, { month, by: pack.by, idle: pack.idle, basis, outDir: config.report.outDir, now, attribution });
            await recordReportRun(ctx.warehouse, {
              month: label, pack, basis, status: run.report.status, dir: run.pack.dir, written: run.pack.written,
              attributedAt: current?.attributedAt ?? '1970-01-01 00:00:00.000', jobId: job.id ?? '',
            });
            built.push(`${label} ${pack.by}-${pack.idle} ${run.report.status}${run.pack.written ? '' : ' (already in place)'}`);
            ctx.log(`report-chargeback: ${label} ${run.report.status} pack ${run.pack.written ? 'written to' : 'already in'} ${run.pack.dir}`);
          }
        });
      } catch (err) {
        // The month's attribution is behind its bill (or it has none): the next attribution pass triggers this job again.
        if (err instanceof ReportError) notes.push(`${label} waits: ${err.message}`);
        else if (err instanceof LockBusyError) notes.push(`${label} is being built by another run`);
        else throw err;
      }
    }
    return {
      windows: owed.map((m) => m.month),
      rowsWritten: built.length,
      owed: owed.length - new Set(built.map((b) => b.slice(0, 7))).size,
      note: [built.length > 0 ? `built ${built.join(', ')}` : 'no pack owed', ...notes].join('; '),
    };
  },
});
