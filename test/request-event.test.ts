import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { matching } from './helpers/matchers.js';
import { formatDateTime64, serializeRequestRow, validateRequestEvent, REQUEST_COLUMNS } from '../src/events/request-event.js';
import { event } from './helpers/files.js';
import { DAY_MS } from '../src/util/time.js';

function rejected(value: unknown): { field: string; reason: string } {
  const outcome = validateRequestEvent(value);
  if (outcome.ok) throw new Error('expected a rejection');
  return outcome;
}

describe('request event v1', () => {
  it('accepts a minimal event and fills the defaults', () => {
    const outcome = validateRequestEvent(event());
    expect(outcome.ok).toBe(true);
    if (!outcome.ok) return;
    expect(outcome.event).toMatchObject({ input_tokens: 0, output_tokens: 0, status: 'ok', ts: Date.UTC(2026, 9, 1, 10, 15) });
    expect(outcome.attributes).toEqual({});
  });

  it('accepts epoch milliseconds and ISO with an offset as the same instant', () => {
    const a = validateRequestEvent(event({ ts: Date.UTC(2026, 9, 1, 10, 15) }));
    const b = validateRequestEvent(event({ ts: '2026-10-01T12:15:00+02:00' }));
    expect(a.ok && b.ok && a.event.ts === b.event.ts).toBe(true);
  });

  it('keeps unknown fields as string attributes', () => {
    const outcome = validateRequestEvent(event({ client: 'sdk/1', retry: 2, flags: { a: true } }));
    expect(outcome.ok && outcome.attributes).toEqual({ client: 'sdk/1', retry: '2', flags: '{"a":true}' });
  });

  it.each([
    ['request_id', { request_id: undefined }, /request_id/],
    ['model_id', { model_id: undefined }, /model_id/],
    ['pool_id', { pool_id: undefined }, /pool_id/],
    ['gpu_ms', { gpu_ms: undefined }, /gpu_ms/],
    ['ts', { ts: undefined }, /ts/],
  ])('names the missing required field %s', (field, overrides, message) => {
    const r = rejected(event(overrides));
    expect(r.field).toBe(field);
    expect(r.reason).toMatch(message);
  });

  it('names the field of a wrong type', () => {
    expect(rejected(event({ gpu_ms: '12' }))).toMatchObject({ field: 'gpu_ms', reason: matching(/expected number/) });
    expect(rejected(event({ tenant_id: 7 }))).toMatchObject({ field: 'tenant_id' });
    expect(rejected(event({ status: 'maybe' }))).toMatchObject({ field: 'status' });
    expect(rejected(event({ input_tokens: 1.5 }))).toMatchObject({ field: 'input_tokens', reason: matching(/integer/) });
  });

  it('refuses negative numbers', () => {
    expect(rejected(event({ gpu_ms: -1 }))).toMatchObject({ field: 'gpu_ms', reason: 'gpu_ms: must be >= 0' });
    expect(rejected(event({ output_tokens: -3 }))).toMatchObject({ field: 'output_tokens' });
    expect(rejected(event({ latency_ms: -0.1 }))).toMatchObject({ field: 'latency_ms' });
  });

  it('refuses Infinity (1e400 parses to it) and NaN', () => {
    const infinite: unknown = JSON.parse('{"gpu_ms": 1e400}');
    expect(rejected(event(infinite as Record<string, unknown>))).toMatchObject({ field: 'gpu_ms' });
    expect(rejected(event({ gpu_ms: NaN }))).toMatchObject({ field: 'gpu_ms' });
  });

  it('refuses an over-long string, naming the field', () => {
    expect(rejected(event({ tenant_id: 'x'.repeat(1 << 20) }))).toMatchObject({ field: 'tenant_id', reason: matching(/at most 256/) });
    expect(rejected(event({ note: 'y'.repeat(5000) }))).toMatchObject({ field: 'attributes', reason: matching(/note/) });
  });

  it('refuses a timestamp without a zone, before 2000, or far in the future', () => {
    expect(rejected(event({ ts: '2026-10-01T10:15:00' }))).toMatchObject({ field: 'ts', reason: matching(/zone/) });
    expect(rejected(event({ ts: '1999-12-31T23:59:59Z' }))).toMatchObject({ field: 'ts', reason: matching(/2000/) });
    expect(rejected(event({ ts: 1_790_000_000 }))).toMatchObject({ field: 'ts', reason: matching(/seconds instead of milliseconds/) });
    expect(rejected(event({ ts: new Date(Date.now() + 3 * DAY_MS).toISOString() }))).toMatchObject({ field: 'ts', reason: matching(/future/) });
    expect(rejected(event({ ts: '2026-02-30T10:00:00Z' }))).toMatchObject({ field: 'ts' });
  });

  it('refuses a team or tenant named like the report\'s idle and untagged lines, in any case or spacing', () => {
    expect(validateRequestEvent(event({ team: '(idle)' }))).toEqual({
      ok: false,
      field: 'team',
      reason: 'team: "(idle)" is reserved: "(idle)" and "(unallocated)" name the idle and untagged lines of chargeback reports',
    });
    expect(rejected(event({ tenant_id: '(unallocated)' }))).toMatchObject({ field: 'tenant_id', reason: matching(/^tenant_id: "\(unallocated\)" is reserved/) });
    for (const name of [' (IDLE) ', '( idle )', '(Unallocated)\t', '\u00a0(idle)', '(idle\u200b)', '\uff08idle\uff09']) {
      expect(rejected(event({ tenant_id: name })).field).toBe('tenant_id');
      expect(rejected(event({ team: name })).field).toBe('team');
    }
    for (const name of ['idle', '(idle) team', 'unallocated', '(idle', 'idle)', '(unassigned)']) {
      expect(validateRequestEvent(event({ tenant_id: name, team: name })).ok).toBe(true);
    }
    // Only owners are reserved: a model or feature may be called anything.
    expect(validateRequestEvent(event({ model_id: '(idle)', feature_id: '(unallocated)' })).ok).toBe(true);
  });

  it('refuses what is not an object', () => {
    for (const value of [null, 3, 'x', [event()]]) expect(rejected(value).reason).toBe('event must be a JSON object');
  });

  it('serialises a row in column order, with gpu_ms rounded to the microsecond', () => {
    const outcome = validateRequestEvent(event({ gpu_ms: 1.23456789, team: 'search', extra: 'x' }));
    if (!outcome.ok) throw new Error('valid');
    const row = JSON.parse(serializeRequestRow(outcome.event, outcome.attributes, 'file:a', '2026-10-02 00:00:00.000')) as unknown[];
    expect(row).toHaveLength(REQUEST_COLUMNS.length);
    const byName = Object.fromEntries(REQUEST_COLUMNS.map((c, i) => [c, row[i]]));
    expect(byName).toMatchObject({ ts: '2026-10-01 10:15:00.000', gpu_ms: 1.235, team: 'search', attributes: { extra: 'x' }, model_version: '', latency_ms: null });
  });

  it('formats DateTime64 in UTC with milliseconds', () => {
    expect(formatDateTime64(Date.UTC(2026, 0, 2, 3, 4, 5, 6))).toBe('2026-01-02 03:04:05.006');
  });
});

describe('calendar dates', () => {
  it('knows month lengths and leap years', async () => {
    const { isRealDate } = await import('../src/util/time.js');
    expect(['2024-02-29', '2026-12-31', '2000-02-29', '2026-04-30'].map(isRealDate)).toEqual([true, true, true, true]);
    expect(['2026-02-29', '1900-02-29', '2026-04-31', '2026-13-01', '2026-00-10', '2026-01-00', 'xxxx-01-01'].map(isRealDate)).toEqual(Array(7).fill(false));
  });
});

describe('row serialisation', () => {
  it('is the JSON array of the columns, for any strings and numbers', () => {
    const text = fc.string({ unit: 'binary', maxLength: 40 });
    fc.assert(
      fc.property(
        fc.record({
          request_id: text, model_id: text, feature_id: text, tenant_id: text, pool_id: text,
          model_version: fc.option(text, { nil: undefined }), team: fc.option(text, { nil: undefined }),
          gpu_ms: fc.double({ min: 0, max: 1e10, noNaN: true }),
          input_tokens: fc.nat(), output_tokens: fc.nat(),
          latency_ms: fc.option(fc.double({ min: 0, max: 1e6, noNaN: true }), { nil: undefined }),
          ts: fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2030, 0, 1) }),
        }),
        fc.dictionary(text, text, { maxKeys: 3 }),
        (e, attributes) => {
          const event = { ...e, status: 'ok' as const };
          const row = JSON.parse(serializeRequestRow(event, attributes, 'file:x', '2026-10-02 00:00:00.000')) as unknown[];
          expect(row).toEqual([
            e.request_id, new Date(e.ts).toISOString().replace('T', ' ').slice(0, 23), e.model_id, e.model_version ?? '',
            e.feature_id, e.tenant_id, e.team ?? '', e.pool_id, '', '', '', Math.round(e.gpu_ms * 1000) / 1000,
            e.input_tokens, e.output_tokens, e.latency_ms ?? null, 'ok', attributes, 'file:x', '2026-10-02 00:00:00.000',
          ]);
        },
      ),
    );
  });

  it('formats any instant like toISOString does, whatever it formatted before', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2030, 0, 1) }), { minLength: 1, maxLength: 20 }), (instants) => {
        for (const ms of instants) expect(formatDateTime64(ms)).toBe(new Date(ms).toISOString().replace('T', ' ').slice(0, 23));
      }),
    );
  });
});
