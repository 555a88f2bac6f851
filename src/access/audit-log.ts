/**
 * Reading the query endpoint's audit back (`inferledger access log`): the
 * rows of query_audit, newest first, as JSON or one line per request.
 */
import { z } from 'zod';
import { sqlFile } from '../warehouse/sql-files.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { formatDateTimeMillis } from '../util/time.js';

export const AUDIT_OUTCOMES = ['ok', 'error', 'unauthenticated', 'limited', 'cancelled'] as const;

const auditRow = z.object({
  event_time: z.string(),
  user: z.string(),
  outcome: z.string(),
  error_code: z.coerce.number(),
  result_rows: z.coerce.number().nullable(),
  result_bytes: z.coerce.number(),
  duration_ms: z.coerce.number(),
  scope: z.string(),
  query_hash: z.string(),
  query: z.string(),
  error: z.string(),
  client: z.string(),
});
export type AuditRow = z.infer<typeof auditRow>;

export interface AuditFilter {
  since: number;
  user?: string | undefined;
  outcome?: string | undefined;
  limit: number;
}

export async function readAuditLog(warehouse: Warehouse, filter: AuditFilter): Promise<AuditRow[]> {
  return warehouse.query(sqlFile('access/audit-log'), {
    since: formatDateTimeMillis(filter.since), user: filter.user ?? '', outcome: filter.outcome ?? '', limit: filter.limit,
  }, auditRow);
}

/** `2026-12-07 06:21:19.123  search  error 164  1 row  3 B  12 ms  SELECT * FROM pool_cost`: the query on one line, cut at 100 characters. */
export function auditLine(row: AuditRow): string {
  const query = row.query.replace(/\s+/g, ' ').trim();
  const outcome = row.error_code === 0 ? row.outcome : `${row.outcome} ${row.error_code}`;
  const rows = row.result_rows === null ? '' : `  ${row.result_rows} row${row.result_rows === 1 ? '' : 's'}`;
  return `${row.event_time}  ${row.user || '(none)'}  ${outcome}${rows}  ${row.result_bytes} B  ${row.duration_ms} ms  ${query.length > 100 ? `${query.slice(0, 99)}…` : query}`;
}
