/**
 * What makes two copies of a request id the same event: every column the
 * event sets (not where or when it was ingested). Used on the rare paths
 * only (an id seen before), so clarity beats speed here.
 */
import { z } from 'zod';
import { REQUEST_COLUMNS } from '../events/request-event.js';

/** Columns compared, in {@link REQUEST_COLUMNS} order. */
export const CONTENT_COLUMNS = REQUEST_COLUMNS.filter((c) => c !== 'request_id' && c !== 'source' && c !== 'ingested_at');
type ContentColumn = (typeof CONTENT_COLUMNS)[number];

/** An event's content as comparable text per column. */
export type RequestContent = Readonly<Record<ContentColumn, string>>;

/** A stored copy as sql/queries/existing-request-ids.sql returns it. */
export const storedRequestRow = z.object({
  request_id: z.string(),
  ts_ms: z.string(),
  model_id: z.string(),
  model_version: z.string(),
  feature_id: z.string(),
  tenant_id: z.string(),
  team: z.string(),
  pool_id: z.string(),
  instance_id: z.string(),
  region: z.string(),
  gpu_type: z.string(),
  gpu_ms: z.string(),
  input_tokens: z.coerce.number(),
  output_tokens: z.coerce.number(),
  latency_ms: z.number().nullable(),
  status: z.string(),
  attributes: z.record(z.string(), z.string()),
});
export type StoredRequestRow = z.infer<typeof storedRequestRow>;

function attributesText(attributes: Record<string, string>): string {
  return JSON.stringify(Object.entries(attributes).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function numberText(value: unknown): string {
  return value === null || value === undefined ? '' : String(Number(value));
}

export function contentOfStored(row: StoredRequestRow): RequestContent {
  return {
    ts: row.ts_ms,
    model_id: row.model_id,
    model_version: row.model_version,
    feature_id: row.feature_id,
    tenant_id: row.tenant_id,
    team: row.team,
    pool_id: row.pool_id,
    instance_id: row.instance_id,
    region: row.region,
    gpu_type: row.gpu_type,
    gpu_ms: numberText(row.gpu_ms),
    input_tokens: numberText(row.input_tokens),
    output_tokens: numberText(row.output_tokens),
    latency_ms: numberText(row.latency_ms),
    status: row.status,
    attributes: attributesText(row.attributes),
  };
}

/** The content of a serialised row (one JSONCompactEachRow line from serializeRequestRow). */
export function contentOfRow(row: Buffer | string): RequestContent {
  const values = JSON.parse(typeof row === 'string' ? row : row.toString('utf8')) as unknown[];
  const at = (column: (typeof REQUEST_COLUMNS)[number]): unknown => values[REQUEST_COLUMNS.indexOf(column)];
  return {
    // 'YYYY-MM-DD hh:mm:ss.sss', UTC
    ts: String(Date.parse(`${String(at('ts')).replace(' ', 'T')}Z`)),
    model_id: String(at('model_id')),
    model_version: String(at('model_version')),
    feature_id: String(at('feature_id')),
    tenant_id: String(at('tenant_id')),
    team: String(at('team')),
    pool_id: String(at('pool_id')),
    instance_id: String(at('instance_id')),
    region: String(at('region')),
    gpu_type: String(at('gpu_type')),
    gpu_ms: numberText(at('gpu_ms')),
    input_tokens: numberText(at('input_tokens')),
    output_tokens: numberText(at('output_tokens')),
    latency_ms: numberText(at('latency_ms')),
    status: String(at('status')),
    attributes: attributesText(at('attributes') as Record<string, string>),
  };
}

/** Columns whose content differs (empty: the same event). */
export function differingColumns(a: RequestContent, b: RequestContent): ContentColumn[] {
  return CONTENT_COLUMNS.filter((c) => a[c] !== b[c]);
}

/** The reject / dead-letter reason of a conflicting copy. */
export function conflictReason(id: string, columns: readonly string[]): string {
  return `conflicting duplicate of request_id ${JSON.stringify(id)}: ${columns.join(', ')} differ${columns.length === 1 ? 's' : ''} from the copy stored first`;
}
