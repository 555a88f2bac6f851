/**
 * The bill: when it last came in (file imports and Cost Explorer pulls, as
 * billing_scopes and billing_pulls record them) and the paid Cost Explorer
 * calls of this month (billing_api_calls, $0.01 a page).
 */
import { z } from 'zod';
import { HOUR_MS, formatDateTime, monthStart, parseDateTime } from '../util/time.js';
import { sqlFile } from '../warehouse/sql-files.js';
import { age, count, ok, warn, type Check } from './check.js';

/** With jobs.billingPull on (hourly), a newest pull older than this is a warning. */
export const PULL_STALE_MS = 26 * HOUR_MS;

const sourceRow = z.object({ kind: z.enum(['import', 'pull', 'pages']), source: z.string(), at: z.string(), n: z.coerce.number(), cost_usd: z.string() });

export const billingCheck: Check = {
  name: 'billing',
  group: 'billing',
  timeoutMs: 15_000,
  errorFix: 'inferledger migrate (if the schema is behind), else see the warehouse line',
  run: async (ctx) => {
    const { warehouse } = await ctx.warehouse();
    const rows = await warehouse.query(sqlFile('doctor/billing-sources'), { month_start: formatDateTime(monthStart(ctx.now)) }, sourceRow);
    const ago = (at: string): string => `${age(ctx.now - parseDateTime(at))} ago`;
    const imports = rows.filter((r) => r.kind === 'import' && r.source !== 'aws-cost-explorer').sort((a, b) => b.at.localeCompare(a.at));
    const pull = rows.find((r) => r.kind === 'pull');
    const pages = rows.find((r) => r.kind === 'pages');
    const parts = [
      pull ? `last Cost Explorer pull ${ago(pull.at)}` : ctx.config.jobs.billingPull ? 'Cost Explorer never pulled' : undefined,
      imports[0] ? `last file import ${imports[0].source} ${ago(imports[0].at)}` : undefined,
      pages ? `${count(pages.n)} paid Cost Explorer pages this month ($${Number(pages.cost_usd).toFixed(2)})` : undefined,
    ].filter((p): p is string => p !== undefined);
    const data = {
      billingPull: ctx.config.jobs.billingPull,
      lastPull: pull?.at ?? null,
      lastImport: imports[0] ? { source: imports[0].source, at: imports[0].at } : null,
      paidPagesThisMonth: pages?.n ?? 0,
      paidUsdThisMonth: pages?.cost_usd ?? '0',
    };
    const said = parts.join('; ') || 'no bill imported yet';
    if (ctx.config.jobs.billingPull && (pull === undefined || ctx.now - parseDateTime(pull.at) > PULL_STALE_MS)) {
      return warn(
        pull === undefined ? said : `${said} (over ${age(PULL_STALE_MS)}; the billing-pull job runs hourly)`,
        'is `inferledger run` running? inferledger jobs list (billing-pull); set jobs.billingPull false (INFERLEDGER_BILLING_PULL) when the bill comes as files only',
        data,
      );
    }
    return ok(said, data);
  },
};
