/**
 * The inference request event, schema version 1: what a serving system emits
 * per request, one JSON object per NDJSON line or per Kafka message. This is
 * the contract with producers; the zod schema is the single definition and
 * every source (file, Kafka) validates with it.
 */
import { z } from 'zod';
import { reservedOwnerReason } from '../util/reserved-owners.js';
import { isRealDate } from '../util/time.js';

/** Bounds that keep one bad producer from filling memory or the warehouse. */
export const LIMITS = {
  idChars: 256,
  attributeKeyChars: 128,
  attributeValueChars: 4096,
  attributes: 64,
  /** About 115 days of GPU time in one request: anything above is a unit mistake. */
  maxGpuMs: 1e10,
  maxTokens: 4_294_967_295,
  /** Events further ahead of the clock than this are rejected as clock or unit errors. */
  maxFutureSkewMs: 24 * 3600 * 1000,
  minTimestampMs: Date.UTC(2000, 0, 1),
} as const;

/** ISO-8601 date-time that states its zone: `Z` or `+hh:mm` / `-hh:mm` / `+hhmm`. */
const ISO_WITH_ZONE = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/i;

const id = z.string().min(1, 'must not be empty').max(LIMITS.idChars, `must be at most ${LIMITS.idChars} characters`);
const optionalText = z.string().max(LIMITS.idChars, `must be at most ${LIMITS.idChars} characters`).optional();
const tokenCount = z.number().int('must be an integer').min(0, 'must be >= 0').max(LIMITS.maxTokens).default(0);

/**
 * Event timestamp: an ISO-8601 string with a zone or epoch milliseconds. The
 * schema checks only the shape; {@link toEpochMs} checks the meaning. A zod
 * transform here cost 3.5 µs an event (it takes zod off its compiled fast
 * path), more than the rest of the schema together.
 */
const timestamp = z.union([z.string().max(64), z.number()]);

/**
 * Epoch milliseconds of an event timestamp, or why it is refused. A zone-less
 * string is refused: guessing the zone would put the request in the wrong
 * billing period.
 */
export function toEpochMs(value: string | number, now = Date.now()): number | string {
  let ms: number;
  if (typeof value === 'number') {
    ms = value;
  } else {
    if (!ISO_WITH_ZONE.test(value)) return 'must be ISO-8601 with a zone (Z or +hh:mm) or epoch milliseconds';
    ms = isRealDate(value) ? Date.parse(value) : NaN;
  }
  if (!Number.isFinite(ms)) return 'is not a valid date-time';
  if (ms < LIMITS.minTimestampMs) return 'is before 2000-01-01 (epoch seconds instead of milliseconds?)';
  if (ms > now + LIMITS.maxFutureSkewMs) return 'is more than a day in the future';
  return Math.trunc(ms);
}

const requestEventShape = {
  request_id: id,
  ts: timestamp,
  model_id: id,
  feature_id: id,
  tenant_id: id,
  pool_id: id,
  gpu_ms: z.number().min(0, 'must be >= 0').max(LIMITS.maxGpuMs, `must be at most ${LIMITS.maxGpuMs}`),
  model_version: optionalText,
  team: optionalText,
  instance_id: optionalText,
  region: optionalText,
  gpu_type: optionalText,
  input_tokens: tokenCount,
  output_tokens: tokenCount,
  latency_ms: z.number().min(0, 'must be >= 0').optional(),
  status: z.enum(['ok', 'error']).default('ok'),
};

/**
 * The event schema. Unknown fields are not part of it: they are read from the
 * input by {@link extraAttributes}. (`z.looseObject`, which keeps them, took
 * zod off its compiled path: ~3x the validation time, bench/ingest-file.)
 * {@link validateRequestEvent} adds the checks of meaning: the timestamp's
 * range, and `tenant_id` / `team` not being a reserved owner name.
 */
export const requestEventSchema = z.object(requestEventShape);

/** A valid event, with its timestamp as epoch milliseconds. */
export type RequestEvent = Omit<z.output<z.ZodObject<typeof requestEventShape>>, 'ts'> & { ts: number };

const KNOWN_FIELDS = new Set(Object.keys(requestEventSchema.shape));

/** Fields chargeback reports are built per: they may not take the names of the report's own lines. */
const OWNER_FIELDS = ['tenant_id', 'team'] as const;

/** Column order of inference_requests as written by {@link serializeRequestRow}. */
export const REQUEST_COLUMNS = [
  'request_id', 'ts', 'model_id', 'model_version', 'feature_id', 'tenant_id', 'team', 'pool_id',
  'instance_id', 'region', 'gpu_type', 'gpu_ms', 'input_tokens', 'output_tokens', 'latency_ms',
  'status', 'attributes', 'source', 'ingested_at',
] as const;

export type ValidationOutcome =
  | { ok: true; event: RequestEvent; attributes: Record<string, string> }
  | { ok: false; field: string; reason: string };

/** Validate one decoded JSON value as a request event. Never throws. */
export function validateRequestEvent(value: unknown): ValidationOutcome {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { ok: false, field: '', reason: 'event must be a JSON object' };
  }
  const parsed = requestEventSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0] as z.core.$ZodIssue;
    const field = issue.path.map(String).join('.');
    const others = parsed.error.issues.length - 1;
    return { ok: false, field, reason: `${field || 'event'}: ${issue.message}${others > 0 ? ` (and ${others} more)` : ''}` };
  }
  const ts = toEpochMs(parsed.data.ts);
  if (typeof ts === 'string') return { ok: false, field: 'ts', reason: `ts: ${ts}` };
  // Like ts, checked after zod: the schema stays plain shape checks, its fast path.
  for (const field of OWNER_FIELDS) {
    const name = parsed.data[field];
    const reserved = name === undefined ? undefined : reservedOwnerReason(name);
    if (reserved !== undefined) return { ok: false, field, reason: `${field}: ${reserved}` };
  }
  const attributes = extraAttributes(value as Record<string, unknown>);
  if (typeof attributes === 'string') return { ok: false, field: 'attributes', reason: attributes };
  return { ok: true, event: { ...(parsed.data as Omit<RequestEvent, 'ts'>), ts }, attributes };
}

/** Fields of the input outside schema v1, kept as strings; an error message when they break the bounds. */
function extraAttributes(event: Record<string, unknown>): Record<string, string> | string {
  const out: Record<string, string> = {};
  let count = 0;
  for (const key in event) {
    if (KNOWN_FIELDS.has(key)) continue;
    const raw = event[key];
    if (raw === undefined) continue;
    if (++count > LIMITS.attributes) return `more than ${LIMITS.attributes} extra fields`;
    if (key.length > LIMITS.attributeKeyChars) return `extra field name longer than ${LIMITS.attributeKeyChars} characters`;
    const value = typeof raw === 'string' ? raw : JSON.stringify(raw);
    if (value.length > LIMITS.attributeValueChars) return `${key}: extra field longer than ${LIMITS.attributeValueChars} characters`;
    out[key] = value;
  }
  return out;
}

let cachedSecond = NaN;
let cachedSecondText = '';

/**
 * 'YYYY-MM-DD hh:mm:ss.sss' in UTC: the plain form both backends parse
 * without guessing. Events arrive roughly in time order, so the text of the
 * last second is reused (a hot path of ingestion).
 */
export function formatDateTime64(ms: number): string {
  const second = Math.floor(ms / 1000);
  if (second !== cachedSecond) {
    cachedSecond = second;
    const iso = new Date(second * 1000).toISOString();
    cachedSecondText = `${iso.slice(0, 10)} ${iso.slice(11, 19)}`;
  }
  const millis = ms - second * 1000;
  return `${cachedSecondText}.${millis < 10 ? '00' : millis < 100 ? '0' : ''}${millis}`;
}

/**
 * One JSONCompactEachRow line for inference_requests, in {@link REQUEST_COLUMNS}
 * order. One JSON.stringify of an array: its output is a flat string, which
 * the batch buffer copies cheaply (a template of many pieces measured twice as
 * slow end to end, bench/ingest-file).
 */
export function serializeRequestRow(
  event: RequestEvent,
  attributes: Record<string, string>,
  source: string,
  ingestedAt: string,
): string {
  return JSON.stringify([
    event.request_id,
    formatDateTime64(event.ts),
    event.model_id,
    event.model_version ?? '',
    event.feature_id,
    event.tenant_id,
    event.team ?? '',
    event.pool_id,
    event.instance_id ?? '',
    event.region ?? '',
    event.gpu_type ?? '',
    // Decimal(18, 3): round here so the stored value is exactly what was sent, to the microsecond.
    Math.round(event.gpu_ms * 1000) / 1000,
    event.input_tokens,
    event.output_tokens,
    event.latency_ms ?? null,
    event.status,
    attributes,
    source,
    ingestedAt,
  ]);
}
