/**
 * What a stored-away record (a dead letter, a reject line) becomes before it
 * is judged again: the fields an operator sets (`--set field=value`) laid
 * over the event, and a refused row (a conflicting duplicate, a row the
 * warehouse refused: kept as the inference_requests row it became) turned
 * back into the event it came from. The judging itself is the collector's
 * own path, parse-records.ts in `messages` mode, so a replayed record meets
 * exactly today's rules.
 */
import { isUtf8 } from 'node:buffer';
import { z } from 'zod';
import { packValues } from '../collector/message-values.js';
import { parseRecords, type ParsedRecords } from '../events/parse-records.js';
import { REQUEST_COLUMNS } from '../events/request-event.js';

/** Top-level event fields to set or override, by name. */
export type FieldSets = Readonly<Record<string, unknown>>;

/**
 * The value with `sets` laid over its top-level fields, or the value as it
 * is when there is nothing to set or it is not a JSON object (then it is
 * judged, and refused, as it stands).
 */
export function withFieldSets(value: Buffer | null, sets: FieldSets, maxBytes: number): Buffer | null {
  if (value === null || value.length > maxBytes || Object.keys(sets).length === 0 || !isUtf8(value)) return value;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString('utf8'));
  } catch {
    return value;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return value;
  // Spread, not assignment: a field named __proto__ stays a plain field.
  return Buffer.from(JSON.stringify({ ...parsed, ...sets }));
}

/** A refused row as written by serializeRequestRow, by column name. */
const refusedRow = z.object({
  request_id: z.string(),
  ts: z.string().regex(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,9})?$/),
  model_id: z.string(),
  model_version: z.string(),
  feature_id: z.string(),
  tenant_id: z.string(),
  team: z.string(),
  pool_id: z.string(),
  instance_id: z.string(),
  region: z.string(),
  gpu_type: z.string(),
  gpu_ms: z.number(),
  input_tokens: z.number(),
  output_tokens: z.number(),
  latency_ms: z.number().nullable(),
  status: z.string(),
  attributes: z.record(z.string(), z.string()),
  source: z.string(),
  ingested_at: z.string(),
});

/**
 * The event a refused row was made from, as JSON text, or undefined when
 * `value` is not such a row. Empty optional columns were absent fields, and
 * attributes were the event's extra fields: the event judged again becomes
 * the same row.
 */
export function eventOfRefusedRow(value: Buffer | string): Buffer | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof value === 'string' ? value : value.toString('utf8'));
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed) || parsed.length !== REQUEST_COLUMNS.length) return undefined;
  const row = refusedRow.safeParse(Object.fromEntries(REQUEST_COLUMNS.map((column, i) => [column, parsed[i] as unknown])));
  if (!row.success) return undefined;
  const r = row.data;
  const optional = (name: string, text: string): Record<string, string> => (text === '' ? {} : { [name]: text });
  return Buffer.from(JSON.stringify({
    request_id: r.request_id,
    // Stored as UTC without a zone: said explicitly, as an event must.
    ts: `${r.ts.replace(' ', 'T')}Z`,
    model_id: r.model_id,
    ...optional('model_version', r.model_version),
    feature_id: r.feature_id,
    tenant_id: r.tenant_id,
    ...optional('team', r.team),
    pool_id: r.pool_id,
    ...optional('instance_id', r.instance_id),
    ...optional('region', r.region),
    ...optional('gpu_type', r.gpu_type),
    gpu_ms: r.gpu_ms,
    input_tokens: r.input_tokens,
    output_tokens: r.output_tokens,
    ...(r.latency_ms === null ? {} : { latency_ms: r.latency_ms }),
    status: r.status,
    ...r.attributes,
  }));
}

export interface JudgeOptions {
  /** Longer values are refused unread, as the collector refuses them. */
  maxBytes: number;
  /** `source` and `ingested_at` of every row. */
  source: string;
  ingestedAt: string;
}

/** Judge values (null: a tombstone) with the collector's rules; record i of the result is values[i]. */
export function judgeValues(values: readonly (Buffer | null)[], options: JudgeOptions): ParsedRecords {
  const { bytes, lengths } = packValues(values.map((value) => ({ offset: '0', key: null, value })), 0, options.maxBytes);
  return parseRecords({ mode: 'messages', bytes, lengths, maxRecordBytes: options.maxBytes, source: options.source, ingestedAt: options.ingestedAt });
}
