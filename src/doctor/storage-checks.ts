/**
 * Storage: disk used per table, free space where the warehouse keeps its
 * data, and retention (the oldest raw request kept against the configured
 * horizon, and when retention was last applied, from retention_runs).
 */
import { existsSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { resolve } from 'node:path';
import { z } from 'zod';
import { DAY_MS, dayStart, formatDate, monthStart, parseDate, parseDateTime } from '../util/time.js';
import { sqlFile } from '../warehouse/sql-files.js';
import { age, bytes, count, fail, Finding, ok, reason, some, Unavailable, warn, type Check, type CheckOutcome } from './check.js';

/** Free space under this share of the disk is a warning... */
export const FREE_WARN_SHARE = 0.10;
/** ...and under this a failure (the engine stops merging, then writing). */
export const FREE_FAIL_SHARE = 0.03;
/** Retention not applied for longer than this (it runs daily) is a warning. */
export const RETENTION_STALE_MS = 2 * DAY_MS;

const tableRow = z.object({ table: z.string(), bytes: z.coerce.number(), rows: z.coerce.number() });

export const diskCheck: Check = {
  name: 'disk',
  group: 'disk',
  timeoutMs: 15_000,
  errorFix: 'see the warehouse line',
  run: async (ctx) => {
    const { warehouse } = await ctx.warehouse();
    const tables = await warehouse.query(sqlFile('doctor/table-sizes'), {}, tableRow);
    const total = tables.reduce((n, t) => n + t.bytes, 0);
    const largest = tables.filter((t) => t.bytes > 0).map((t) => `${t.table} ${bytes(t.bytes)}`);
    return ok(`${bytes(total)} in ${tables.length} tables${largest.length > 0 ? `: ${some(largest)}` : ''}`, { bytes: total, tables });
  },
};

const diskRow = z.object({ name: z.string(), path: z.string(), free: z.coerce.number(), total: z.coerce.number() });

export const freeSpaceCheck: Check = {
  name: 'free-space',
  group: 'disk',
  timeoutMs: 15_000,
  errorFix: 'see the warehouse line',
  run: async (ctx): Promise<CheckOutcome> => {
    let disks: z.infer<typeof diskRow>[];
    if (ctx.config.warehouse.url === undefined) {
      // The embedded data directory is on this machine, read by this process or by the service beside it.
      const dir = resolve(ctx.config.warehouse.dataDir);
      if (!existsSync(dir)) throw new Unavailable('the data directory', 'warehouse', undefined);
      const fs = await statfs(dir).catch((err: unknown) => { throw new Finding(`${dir} cannot be measured: ${reason(err)}`, 'set warehouse.dataDir (INFERLEDGER_DATA_DIR) to the data directory'); });
      disks = [{ name: 'data directory', path: dir, free: fs.bavail * fs.bsize, total: fs.blocks * fs.bsize }];
    } else {
      const { warehouse } = await ctx.warehouse();
      disks = await warehouse.query(sqlFile('doctor/server-disks'), {}, diskRow).catch((err: unknown) => {
        throw new Finding(`the server's disks cannot be read (system.disks): ${reason(err)}`, 'grant the user SELECT on system.disks, or watch the server\'s disks by other means', 'WARN');
      });
    }
    const measured = disks.filter((d) => d.total > 0).map((d) => ({ ...d, share: d.free / d.total }));
    const data = { disks: measured, warnShare: FREE_WARN_SHARE, failShare: FREE_FAIL_SHARE };
    if (measured.length === 0) return ok('no disk to measure', data);
    const tightest = measured.reduce((a, b) => (b.share < a.share ? b : a));
    const said = `${bytes(tightest.free)} free of ${bytes(tightest.total)} (${(tightest.share * 100).toFixed(1)} %) at ${tightest.path}`;
    const fix = 'free space on that disk, or keep less raw data: retention.requestDays and retention.rejectDays, then `inferledger retention apply`';
    if (tightest.share < FREE_FAIL_SHARE) return fail(`${said}: under ${FREE_FAIL_SHARE * 100} %`, fix, data);
    if (tightest.share < FREE_WARN_SHARE) return warn(`${said}: under ${FREE_WARN_SHARE * 100} %`, fix, data);
    return ok(said, data);
  },
};

const runRow = z.object({ retained_table: z.string(), last_applied_at: z.string(), last_horizon: z.string(), last_kept_from: z.string(), last_refused: z.array(z.string()) })
  .transform((r) => ({ table: r.retained_table, appliedAt: r.last_applied_at, horizon: r.last_horizon, keptFrom: r.last_kept_from, refused: r.last_refused }));
const oldestRow = z.object({ day: z.string() });

export const retentionCheck: Check = {
  name: 'retention',
  group: 'retention',
  timeoutMs: 15_000,
  errorFix: 'inferledger migrate (if the schema is behind), else see the warehouse line',
  run: async (ctx): Promise<CheckOutcome> => {
    const { warehouse } = await ctx.warehouse();
    const { requestDays, scheduled } = ctx.config.retention;
    const [runs, [oldestRaw]] = await Promise.all([
      warehouse.query(sqlFile('doctor/retention'), {}, runRow),
      warehouse.query(sqlFile('doctor/oldest-request'), {}, oldestRow),
    ]);
    const oldest = oldestRaw?.day ?? '';
    const horizon = dayStart(ctx.now) - requestDays * DAY_MS;
    // Whole months go, once the retention job (daily) has run after the month fell behind the horizon.
    const keptFrom = monthStart(dayStart(ctx.now - RETENTION_STALE_MS) - requestDays * DAY_MS);
    const last = runs.map((r) => r.appliedAt).sort().at(-1);
    const refused = runs.flatMap((r) => r.refused.map((why) => `${r.table} ${why}`));
    const data = { oldestRequestDay: oldest || null, requestDays, horizon: formatDate(horizon), lastApplied: last ?? null, runs };
    const held = oldest === '' ? 'no raw requests' : `raw requests from ${oldest}`;
    const since = last === undefined ? undefined : ctx.now - parseDateTime(last);
    const said = `${held}, horizon ${formatDate(horizon)} (retention.requestDays ${requestDays}), ${since === undefined ? 'never applied' : `applied ${age(since)} ago`}`;
    const apply = scheduled
      ? 'is `inferledger run` running (the retention job, daily)? or apply it now: inferledger retention apply'
      : 'inferledger retention apply (retention.scheduled is off: run it from cron)';
    if (refused.length > 0) {
      return warn(`${said}; the last run kept ${some(refused, 1)}`, 'inferledger retention apply --dry-run says why; apply again once the rows have settled', data);
    }
    if (oldest !== '' && parseDate(oldest) < keptFrom) {
      return warn(`${said}: ${count(Math.floor((keptFrom - parseDate(oldest)) / DAY_MS))} days before the horizon's month are still kept`, apply, data);
    }
    // Never applied is fine while the oldest raw day ended less than a missed run or two ago.
    const stale = since === undefined ? oldest !== '' && ctx.now - (parseDate(oldest) + DAY_MS) > RETENTION_STALE_MS : since > RETENTION_STALE_MS;
    if (stale) return warn(`${said}: it runs daily, not for over ${age(RETENTION_STALE_MS)} now`, apply, data);
    return ok(said, data);
  },
};
