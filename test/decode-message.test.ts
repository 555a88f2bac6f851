import { describe, expect, it } from 'vitest';
import { decodeRequestMessage } from '../src/events/decode-message.js';
import { messageKey } from '../src/kafka/produce-requests.js';
import { event } from './helpers/files.js';

const LIMIT = 256 * 1024;
const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));

describe('decodeRequestMessage', () => {
  it('accepts a valid event and keeps unknown fields as attributes', () => {
    const outcome = decodeRequestMessage(json(event({ client: 'sdk-py', retries: 2 })), LIMIT);
    expect(outcome).toMatchObject({ ok: true, event: { request_id: 'req-1', ts: Date.UTC(2026, 9, 1, 10, 15) }, attributes: { client: 'sdk-py', retries: '2' } });
  });

  it.each([
    ['a tombstone', null, '', /tombstone/],
    ['an empty value', Buffer.alloc(0), '', /empty message/],
    ['non-UTF-8 bytes', Buffer.from([0x7b, 0xc3, 0x28, 0x7d]), '', /not valid UTF-8/],
    ['a message over the size limit', Buffer.alloc(LIMIT + 1, 0x20), '', /262145 bytes, more than the 262144 allowed/],
    ['malformed JSON', Buffer.from('{"request_id":'), '', /malformed JSON/],
    ['NaN (not JSON)', Buffer.from('{"gpu_ms": NaN}'), '', /malformed JSON/],
    ['a JSON array', Buffer.from('[]'), '', /must be a JSON object/],
    ['a missing field', json({ ...event(), tenant_id: undefined }), 'tenant_id', /^tenant_id:/],
    ['a wrong type', json(event({ gpu_ms: '1' })), 'gpu_ms', /^gpu_ms:/],
    ['a negative number', json(event({ output_tokens: -3 })), 'output_tokens', /must be >= 0/],
    ['a zone-less timestamp', json(event({ ts: '2026-10-01 10:15:00' })), 'ts', /with a zone/],
    ['a timestamp before 2000', json(event({ ts: 946_684_799 })), 'ts', /before 2000/],
    ['a lone surrogate escape in a field', Buffer.from(JSON.stringify(event()).replace('"chat"', '"ch\\uD800at"')), 'feature_id', /lone UTF-16 surrogate/],
    ['a lone low surrogate in an extra field', Buffer.from(JSON.stringify(event({ note: 'NOTE' })).replace('NOTE', '\\udfff')), 'note', /lone UTF-16 surrogate/],
    ['a lone surrogate in an extra field name', Buffer.from(JSON.stringify(event({ KEY: 1 })).replace('KEY', 'k\\ud800')), 'k\\ud800', /^k\\ud800: holds a lone UTF-16 surrogate/],
  ])('dead-letters %s, naming the field', (_name, value, field, reason) => {
    const outcome = decodeRequestMessage(value, LIMIT);
    expect(outcome.ok).toBe(false);
    if (outcome.ok) return;
    expect(outcome.field).toBe(field);
    expect(outcome.reason).toMatch(reason);
  });
});

describe('messageKey', () => {
  it('keys a line by its request_id without parsing it, and a line without one by nothing', () => {
    expect(messageKey(JSON.stringify(event({ request_id: 'abc "q" 1' })))).toBe('abc "q" 1');
    expect(messageKey('{"model_id":"m"}')).toBeNull();
    expect(messageKey('not json')).toBeNull();
  });
});
