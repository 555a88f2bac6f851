/**
 * One call that builds a month's chargeback pack and writes it: what the CLI
 * (`inferledger report chargeback`) and the scheduled job call. With an
 * owner, the month's full report is built and cut down to that owner's pack
 * (owner-scope.ts), so its amounts are the full pack's to the last unit.
 */
import type { Config } from '../config/config.js';
import type { AttributionSettings } from '../attribution/attribute.js';
import { attributionSettingsFor } from '../attribution/recorded-settings.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { buildChargeback, ReportError, type ChargebackReport, type CostBasis } from './chargeback.js';
import type { IdlePolicy } from './idle-policy.js';
import { readCostColumns, readOwnerDailyModels, type ReportBy } from './month-data.js';
import { ownerFocusCsv } from './owner-focus.js';
import { ownerNameProblem } from './owner-name.js';
import { ownerReport } from './owner-scope.js';
import { writePack, type WrittenPack } from './pack.js';
import { focusAllocatedCsv } from './focus-allocated.js';
import { reportHtml } from './html.js';
import { type Month } from '../util/time.js';

export interface ChargebackRequest {
  month: Month;
  by: ReportBy;
  idle: IdlePolicy;
  /** Default: the configured attribution cost basis. */
  basis?: CostBasis;
  outDir: string;
  /**
   * One team's (by team) or tenant's (by tenant) pack only, in
   * `<by>-<idle>-<basis>-<status>-owner-<name>/`. Default: the full pack.
   */
  owner?: string;
  now?: number;
  /**
   * The attribution settings the database was attributed with (pool owners,
   * cost basis), as attributionSettingsFor returned them to the caller.
   * Default: looked up for the database from config.attribution, read only
   * (other configured settings are refused with AttributionSettingsConflict).
   */
  attribution?: AttributionSettings;
  /** Where the line about settings used from the database goes (when looked up here). */
  log?: (line: string) => void;
}

export interface ChargebackRun {
  /** The report the pack was written from: an owner pack's is restricted to its owner (report.owner). */
  report: ChargebackReport;
  pack: WrittenPack;
}

export async function runChargebackReport(warehouse: Warehouse, config: Config, request: ChargebackRequest): Promise<ChargebackRun> {
  const problem = request.owner === undefined ? undefined : ownerNameProblem(request.owner);
  if (problem !== undefined) throw new ReportError(`owner ${problem}`);
  const attribution = request.attribution ?? await attributionSettingsFor(warehouse, config.attribution, { readOnly: true, ...(request.log ? { log: request.log } : {}) });
  const poolOwners: Record<string, string> = {};
  for (const [pool, settings] of Object.entries(attribution.pools)) if (settings.owner !== undefined) poolOwners[pool] = settings.owner;
  // The FOCUS cost columns (focus-allocated.csv only) are read here, beside the report's own queries, not by
  // readMonth: whatever else reads the month (budgets) does not pay for them. A report that cannot be built
  // fails with its own error, once they are done (their own is awaited below, so it is not left unhandled meanwhile).
  const costColumns = readCostColumns(warehouse, request.month);
  costColumns.catch(() => undefined);
  const full = await buildChargeback(warehouse, {
    month: request.month, by: request.by, idle: request.idle, basis: request.basis ?? attribution.costBasis, poolOwners,
    ...(request.now === undefined ? {} : { now: request.now }),
  }).catch(async (err: unknown) => {
    await costColumns.catch(() => undefined);
    throw err;
  });
  const columns = await costColumns;
  const owner = request.owner;
  const report = owner === undefined ? full : ownerReport(full, owner, await readOwnerDailyModels(warehouse, request.month, request.by, owner));
  const pack = await writePack(report, request.outDir, (r) => ({
    'focus-allocated.csv': owner === undefined ? focusAllocatedCsv(r, columns) : ownerFocusCsv(focusAllocatedCsv(r, columns), r.options.by, owner),
    'report.html': reportHtml(r),
  }));
  return { report, pack };
}
