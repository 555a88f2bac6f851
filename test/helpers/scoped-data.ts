/**
 * Attributed rows of three teams and three tenants on two pools, for the
 * tests of users and scopes. The names are spelled by no test query, so one
 * reaching an output can only have leaked from another scope's rows.
 */
import { attributeWindow } from '../../src/attribution/attribute.js';
import type { Warehouse } from '../../src/warehouse/warehouse.js';
import { settings } from './attribution.js';
import { billingLine, DAY0, HOUR, insertBilling, insertRequests, type TestRequest } from './data.js';

export const TEAMS = ['searchx', 'adsrankq', 'fraudgz'] as const;
export const TENANTS = ['acmeco', 'globexq', 'initechz'] as const;

/** Requests of every (team, tenant, pool) in two billed hours of DAY0, attributed. */
export async function seedScopedMonth(w: Warehouse): Promise<void> {
  const requests: TestRequest[] = [];
  let n = 0;
  for (const [t, team] of TEAMS.entries()) {
    for (const [u, tenant] of TENANTS.entries()) {
      for (const pool of ['gpu-a', 'gpu-b']) {
        for (let h = 0; h < 2; h++) requests.push({ id: `r${n++}`, ts: DAY0 + h * HOUR + 60_000 * (t + 1), pool, team, tenant, gpuMs: 100 * (t + 1) + u, feature: `f${u}` });
      }
    }
  }
  await insertRequests(w, requests);
  await insertBilling(w, ['gpu-a', 'gpu-b'].flatMap((pool) => [0, 1].map((h) => billingLine({ pool, start: DAY0 + h * HOUR, billed_cost: '12.5', effective_cost: '12.5' }))));
  await attributeWindow(w, settings(), new Date(DAY0), new Date(DAY0 + 24 * HOUR));
}
