/**
 * One definition of validity for two parsers: whenever the engine takes a
 * unit of request lines itself (engine-scan.ts + staged-units.ts), the
 * JavaScript parser (the event schema) must read the same unit as the same
 * events, with no reject: the same lines, ids, hours and stored values. A
 * unit the engine does not take goes to the JavaScript parser whole, so its
 * verdicts need no second definition. Random units mix valid events, every
 * kind of invalid one, and the odd forms the engine reads otherwise than
 * JSON.parse; the property must see both outcomes often.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { scanForEngine } from '../src/events/engine-scan.js';
import { parseRecords } from '../src/events/parse-records.js';
import { REQUEST_COLUMNS } from '../src/events/request-event.js';
import { dropStage, stageUnit, StagedUnit } from '../src/events/staged-units.js';
import type { Warehouse } from '../src/warehouse/warehouse.js';
import { discardWarehouse, freshWarehouse, scalar } from './helpers/warehouse.js';

const MAX_LINE_BYTES = 64 * 1024;
const SOURCE = 'file:units.ndjson';
const INGESTED_AT = '2026-12-07 10:00:00.000';
const NOW = Date.UTC(2026, 11, 7, 10);
const DAY = 86_400_000;

let w: Warehouse;
beforeAll(async () => {
  w = await freshWarehouse();
  await w.command('CREATE TABLE js_rows AS inference_requests ENGINE = Memory');
});
afterAll(async () => {
  await discardWarehouse(w);
});

const ABSENT = Symbol('absent');
type Field = unknown;

/** A value, or ABSENT (the field is left out). */
const oneOf = <T>(...values: T[]): fc.Arbitrary<T> => fc.constantFrom(...values);

const plainText = fc.stringMatching(/^[a-z0-9][a-z0-9._:-]{0,15}$/);
const anyText = fc.oneof(
  { weight: 6, arbitrary: plainText },
  { weight: 1, arbitrary: fc.string({ maxLength: 6 }) },
  { weight: 1, arbitrary: oneOf('', 'x'.repeat(256), 'x'.repeat(257), 'é'.repeat(128), 'é'.repeat(129), '😀-model', 'a"b\\c/d', 'tab\there', 'new\nline', 'nul\u0000', 'bs\bff\f') },
);
const requiredText = fc.oneof({ weight: 8, arbitrary: plainText }, { weight: 1, arbitrary: anyText }, { weight: 1, arbitrary: oneOf<Field>(ABSENT, null, 5, true, {}, ['x']) });
const optionalText = fc.oneof({ weight: 4, arbitrary: oneOf<Field>(ABSENT) }, { weight: 4, arbitrary: plainText }, { weight: 1, arbitrary: anyText }, { weight: 1, arbitrary: oneOf<Field>(null, 7, false) });
const owner = fc.oneof({ weight: 6, arbitrary: plainText }, { weight: 1, arbitrary: oneOf('(idle)', '(Unallocated)', ' (idle) ', 'Acme (EU)', 'acme-ü', '（idle）', 'idle') });

const isoAt = (ms: number, form: number): string => {
  const iso = new Date(ms).toISOString();
  switch (form) {
    case 0: return iso;
    case 1: return `${iso.slice(0, 19)}Z`;
    case 2: return `${iso.slice(0, 21)}Z`;
    case 3: return `${iso.slice(0, 19)}+00:00`;
    case 4: return iso.toLowerCase();
    case 5: return iso.replace('T', ' ');
    default: return iso.slice(0, 19);
  }
};
const timestamp = fc.oneof(
  { weight: 8, arbitrary: fc.tuple(fc.integer({ min: Date.UTC(2000, 0, 1), max: NOW + DAY }), fc.integer({ min: 0, max: 6 })).map(([ms, form]) => isoAt(ms, form)) },
  { weight: 1, arbitrary: fc.integer({ min: Date.UTC(1999, 0, 1), max: NOW + 3 * DAY }) },
  {
    weight: 2,
    arbitrary: oneOf<Field>(
      '2026-02-30T10:00:00Z', '2024-02-29T10:00:00Z', '2026-10-01T24:00:00Z', '2026-10-01T10:60:00Z', '2026-10-01T10:00:60Z',
      '1999-12-31T23:59:59.999Z', '2000-01-01T00:00:00.000Z', '2026-13-01T00:00:00Z', '2026-10-01T10:00:00.1234Z', '2099-01-01T00:00:00Z',
      ABSENT, null, '', 'yesterday',
    ),
  },
);
const gpuMs = fc.oneof(
  { weight: 6, arbitrary: fc.double({ min: 0, max: 1e10, noNaN: true }) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 100_000 }) },
  { weight: 2, arbitrary: oneOf<Field>(0.0005, 2.675, 1.0005, 0.49999999999999994, 1e10, 1e10 + 1, -0, -1, 1e-7, 1e10 - 0.0005, ABSENT, null, '5') },
);
const tokens = fc.oneof(
  { weight: 4, arbitrary: oneOf<Field>(ABSENT) },
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 100_000 }) },
  { weight: 1, arbitrary: oneOf<Field>(4_294_967_295, 4_294_967_296, -1, 1.5, 1e2, -0, null, '3', 2 ** 53 + 2) },
);
const latency = fc.oneof(
  { weight: 4, arbitrary: oneOf<Field>(ABSENT) },
  { weight: 4, arbitrary: fc.double({ min: 0, max: 1e6, noNaN: true }) },
  { weight: 1, arbitrary: oneOf<Field>(-0, -1, null, 1e-300, '12') },
);
const status = fc.oneof({ weight: 4, arbitrary: oneOf<Field>(ABSENT, 'ok', 'error') }, { weight: 1, arbitrary: oneOf<Field>('OK', 'bad', null, 1) });
const extras = fc.oneof(
  { weight: 8, arbitrary: fc.constant<[string, Field][]>([]) },
  { weight: 1, arbitrary: fc.constant<[string, Field][]>([['customer_tier', 'gold']]) },
  { weight: 1, arbitrary: fc.constant<[string, Field][]>([['GPU_MS', 5], ['Team', 'x']]) },
);

const eventObject = fc.record({
  request_id: requiredText, ts: timestamp, model_id: requiredText, feature_id: requiredText, tenant_id: fc.oneof(owner, requiredText), pool_id: requiredText,
  gpu_ms: gpuMs, model_version: optionalText, team: fc.oneof(owner, optionalText), instance_id: optionalText, region: optionalText, gpu_type: optionalText,
  input_tokens: tokens, output_tokens: tokens, latency_ms: latency, status, extras,
}).map(({ extras: more, ...fields }) => {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) if (value !== ABSENT) out[key] = value;
  for (const [key, value] of more) out[key] = value;
  return out;
});

/** JSON text of an event, as various producers write it, sometimes in a form JSON.parse and the engine read apart. */
const MUTATIONS: ((line: string) => string)[] = [
  (l) => l.replace(/"gpu_ms":(-?[\d.e+]+)/, '"gpu_ms":"$1"'),
  (l) => l.replace(/"gpu_ms":(\d)/, '"gpu_ms":0$1'),
  (l) => l.replace(/"input_tokens":(\d)/, '"input_tokens":+$1'),
  (l) => l.replace(/"gpu_ms":0\./, '"gpu_ms":.'),
  (l) => l.replace(/"gpu_ms":(\d+)([,}])/, '"gpu_ms":$1.$2'),
  (l) => l.replace('"gpu_ms"', '"GPU_MS"'),
  (l) => l.replace('"team"', '"Team"'),
  (l) => l.replace(/"model_id":"/, '"model_id":"\t'),
  (l) => l.replace(/"model_id":"/, '"model_id":"\\\''),
  (l) => l.replace(/"model_id":"/, '"model_id":"\\x41'),
  (l) => l.replace(/"model_id":"(.)/, '"model_id":"\\u0041$1'),
  (l) => l.replace(/"pool_id":"/, '"pool_id":"\r'),
  (l) => l.replace(/}$/, ',}'),
  (l) => l.replace(/^{/, '{"pool_id":"dup",'),
  (l) => `[${l}]`,
  (l) => `${l} ${l}`,
  (l) => `\ufeff${l}`,
  (l) => l.replace(/,"/, ',\f"'),
  (l) => l.replace(/"gpu_ms":[^,}]+/, '"gpu_ms":NaN'),
  (l) => l.replace(/"gpu_ms":[^,}]+/, '"gpu_ms":1e400'),
  (l) => l.replace(/"ts":"[^"]*"/, '"ts":1e400'),
  (l) => l.replace(/}$/, ',"latency_ms":1e400}'),
  (l) => l.replace(/^{/, '{ ').replace(/}$/, ' }'),
  // A text value that holds a raw line end, so that one event spans two lines which each look like an object.
  (l) => l.replace(/"model_id":"/, '"model_id":"}\n{'),
  (l) => l.replaceAll('":', '": ').replaceAll(',"', ', "'),
];
const line = fc.tuple(eventObject, fc.oneof({ weight: 5, arbitrary: fc.constant(-1) }, { weight: 2, arbitrary: fc.nat(MUTATIONS.length - 1) }))
  .map(([e, mutation]) => (mutation < 0 ? JSON.stringify(e) : (MUTATIONS[mutation] as (l: string) => string)(JSON.stringify(e))));
/** An event as most producers send it: plain values, canonical times, numbers in range. */
const plainEvent = fc.record({
  request_id: plainText, ts: fc.tuple(fc.integer({ min: Date.UTC(2000, 0, 1), max: NOW + DAY }), fc.integer({ min: 0, max: 2 })).map(([ms, form]) => isoAt(ms, form)),
  model_id: plainText, feature_id: plainText, tenant_id: plainText, pool_id: plainText,
  gpu_ms: fc.oneof(fc.double({ min: 0, max: 1e10, noNaN: true }), fc.integer({ min: 0, max: 100_000 })),
  model_version: fc.option(plainText, { nil: undefined }), team: fc.option(plainText, { nil: undefined }),
  input_tokens: fc.option(fc.integer({ min: 0, max: 100_000 }), { nil: undefined }), latency_ms: fc.option(fc.double({ min: 0, max: 1e6, noNaN: true }), { nil: undefined }),
  status: fc.option(oneOf('ok', 'error'), { nil: undefined }),
}, { requiredKeys: ['request_id', 'ts', 'model_id', 'feature_id', 'tenant_id', 'pool_id', 'gpu_ms'] });
/** A plain event with one field drawn from everything a producer might send there: each edge on its own. */
const WIDE: Record<string, fc.Arbitrary<Field>> = {
  request_id: requiredText, ts: timestamp, model_id: requiredText, tenant_id: fc.oneof(owner, requiredText), gpu_ms: gpuMs, team: fc.oneof(owner, optionalText),
  region: optionalText, input_tokens: tokens, output_tokens: tokens, latency_ms: latency, status,
};
const oneWideField = fc.tuple(plainEvent, fc.constantFrom(...Object.keys(WIDE))).chain(([e, key]) => (WIDE[key] as fc.Arbitrary<Field>).map((value) => {
  const out: Record<string, unknown> = Object.fromEntries(Object.entries(e).filter(([k]) => k !== key));
  if (value !== ABSENT) out[key] = value;
  return JSON.stringify(out);
}));
const unitLines = fc.array(
  fc.oneof({ weight: 10, arbitrary: plainEvent.map((e) => JSON.stringify(e)) }, { weight: 3, arbitrary: oneWideField }, { weight: 1, arbitrary: line }, { weight: 1, arbitrary: oneOf('', '   ', '\r') }),
  { minLength: 1, maxLength: 5 },
);

const storedRow = z.array(z.unknown());

async function rowsOf(sql: string, params: Record<string, unknown>): Promise<string> {
  let text = '';
  for await (const chunk of await w.queryText(sql, params, 'JSONCompactEachRow', true)) text += String(chunk);
  return text;
}

const CONTENT = REQUEST_COLUMNS.filter((c) => c !== 'attributes' && c !== 'source' && c !== 'ingested_at').join(', ');

describe('the engine takes a unit only when the event schema reads it the same way', () => {
  it('holds for random units of valid, invalid and oddly written events', async () => {
    const runs = Number(process.env['ENGINE_STAGE_RUNS'] ?? 400);
    let staged = 0;
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(unitLines, fc.boolean(), async (lines, finalNewline) => {
        const unit = Buffer.from(lines.join('\n') + (finalNewline ? '\n' : ''));
        const parsed = parseRecords({ mode: 'lines', bytes: unit, maxRecordBytes: MAX_LINE_BYTES, source: SOURCE, ingestedAt: INGESTED_AT });
        const scan = scanForEngine(unit, MAX_LINE_BYTES);
        if ('refused' in scan) {
          refused++;
          return;
        }
        // What the engine reads as rows, the schema must read as the same lines.
        expect({ records: scan.records, blank: scan.blank }).toEqual({ records: parsed.records, blank: parsed.blank });
        const outcome = await stageUnit(w, unit, scan, { source: SOURCE, ingestedAt: INGESTED_AT, maxRecordBytes: MAX_LINE_BYTES, nowMs: NOW });
        if (!(outcome instanceof StagedUnit)) {
          refused++;
          return;
        }
        staged++;
        try {
          expect(parsed.rejects).toEqual([]);
          expect(outcome.ids).toEqual(parsed.ids);
          expect([...outcome.hours]).toEqual([...parsed.hours]);
          expect([...outcome.idHashes]).toEqual([...parsed.idHashes]);
          expect([...scan.rowRecords]).toEqual([...parsed.rowRecords]);
          // The values stored: the JavaScript rows inserted as the parser threads' rows are, against the stage's.
          await w.command('TRUNCATE TABLE js_rows');
          await w.insertCompact('js_rows', REQUEST_COLUMNS, Buffer.from(parsed.rows));
          expect(await scalar(w, 'SELECT count() AS n FROM js_rows WHERE attributes != map()')).toBe(0);
          const fromJs = await rowsOf(`SELECT ${CONTENT} FROM js_rows ORDER BY request_id`, {});
          const fromEngine = await rowsOf(`SELECT ${CONTENT} FROM {stage:Identifier} ORDER BY request_id`, { stage: outcome.stage });
          expect(fromEngine).toBe(fromJs);
          expect(fromJs.trim().split('\n').map((r) => storedRow.parse(JSON.parse(r)))).toHaveLength(parsed.ids.length);
        } finally {
          await dropStage(w, outcome);
        }
      }),
      { numRuns: runs },
    );
    // The property has teeth only when both outcomes are common.
    expect(staged).toBeGreaterThan(runs / 4);
    expect(refused).toBeGreaterThan(runs / 10);
  }, 1_800_000);
});

describe('lines and rows stay aligned', () => {
  it('a unit where one event spans two lines and another line holds two events is not taken', async () => {
    const event = (id: string): string => JSON.stringify({ request_id: id, ts: '2026-10-01T10:00:00.000Z', model_id: 'm', feature_id: 'f', tenant_id: 't', pool_id: 'p', gpu_ms: 1 });
    // Three lines, each starting with { and ending with }, none of them JSON; the engine alone would read three events.
    for (const end of ['\n', '\r\n']) {
      const unit = Buffer.from(`${event('s1').slice(0, -1)},"team":"a}${end}{b"}${end}${event('s2')} ${event('s3')}${end}`);
      expect(parseRecords({ mode: 'lines', bytes: unit, maxRecordBytes: MAX_LINE_BYTES, source: SOURCE, ingestedAt: INGESTED_AT }).rejects).toHaveLength(3);
      const scan = scanForEngine(unit, MAX_LINE_BYTES);
      if ('refused' in scan) continue;
      const outcome = await stageUnit(w, unit, scan, { source: SOURCE, ingestedAt: INGESTED_AT, maxRecordBytes: MAX_LINE_BYTES, nowMs: NOW });
      if (outcome instanceof StagedUnit) await dropStage(w, outcome);
      expect(outcome).toEqual({ refused: expect.any(String) as string });
    }
  });
});
