/**
 * What the collector hands a parser thread for a fetched batch: values back
 * to back from the first untaken message, lengths beside, tombstones as -1,
 * oversized values measured but not copied.
 */
import { expect, it } from 'vitest';
import { packValues } from '../src/collector/message-values.js';
import type { StreamMessage } from '../src/kafka/stream.js';

const message = (offset: number, value: string | null): StreamMessage => ({ offset: String(offset), key: null, value: value === null ? null : Buffer.from(value) });

it('packs the values of messages [from, end) and leaves oversized ones out of the bytes', () => {
  const messages = [message(10, 'skipped'), message(11, 'abc'), message(12, null), message(13, ''), message(14, 'toolong'), message(15, 'xyz1')];
  const { bytes, lengths } = packValues(messages, 1, 4);
  expect([...lengths]).toEqual([3, -1, 0, 7, 4]);
  expect(bytes.toString()).toBe('abcxyz1');
  expect(bytes.length).toBe(7);
});

it('packs nothing for a batch taken before', () => {
  const { bytes, lengths } = packValues([message(1, 'a')], 1, 10);
  expect(lengths.length).toBe(0);
  expect(bytes.length).toBe(0);
});
