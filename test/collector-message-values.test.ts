/**
 * What the collector hands a parser thread for a unit: values back to back
 * from the first untaken message (each followed by a line end when packed
 * as lines), lengths beside, tombstones as -1, oversized values measured but
 * not copied; and what a dead letter gets back of each value.
 */
import { expect, it } from 'vitest';
import { messageValue, packValues, TakenMessages, valueStarts } from '../src/collector/message-values.js';
import { DLQ_VALUE_LIMIT } from '../src/collector/dead-letters.js';
import type { StreamMessage } from '../src/kafka/stream.js';

const message = (offset: number, value: string | null): StreamMessage => ({ offset: String(offset), key: null, value: value === null ? null : Buffer.from(value) });

it('packs the values of messages [from, end) and leaves oversized ones out of the bytes', () => {
  const messages = [message(10, 'skipped'), message(11, 'abc'), message(12, null), message(13, ''), message(14, 'toolong'), message(15, 'xyz1')];
  const { bytes, lengths } = packValues(messages, 1, 4);
  expect([...lengths]).toEqual([3, -1, 0, 7, 4]);
  expect(bytes.toString()).toBe('abcxyz1');
  expect(bytes.length).toBe(7);
  const lines = packValues(messages, 1, 4, { to: 5, asLines: true });
  expect([...lines.lengths]).toEqual([3, -1, 0, 7]);
  expect(lines.bytes.toString()).toBe('abc\n');
});

it('packs nothing for a batch taken before', () => {
  const { bytes, lengths } = packValues([message(1, 'a')], 1, 10);
  expect(lengths.length).toBe(0);
  expect(bytes.length).toBe(0);
});

it('takes fetches into one unit, as lines with their offsets, and gives each value back for its dead letter', () => {
  const taken = new TakenMessages();
  const huge = 'h'.repeat(DLQ_VALUE_LIMIT + 10);
  taken.take([message(5, 'one'), message(6, null), message(7, huge)], 0, 3, 100);
  taken.take([message(8, 'skip'), message(9, ''), message(10, 'two')], 1, 3, 100);
  expect(taken.count).toBe(5);
  expect(taken.bytes).toBe('one\ntwo\n'.length);
  const sealed = taken.seal();
  expect(sealed.bytes.toString()).toBe('one\ntwo\n');
  expect([...sealed.lengths]).toEqual([3, -1, huge.length, 0, 3]);
  expect([...sealed.offsets]).toEqual([5, 6, 7, 9, 10]);
  const starts = valueStarts(sealed.lengths, 100);
  const value = (i: number): { value: string | null; length: number } => {
    const v = messageValue(sealed, sealed.bytes, starts, i, 100);
    return { value: v.value === null ? null : v.value.toString(), length: v.length };
  };
  expect(value(0)).toEqual({ value: 'one', length: 3 });
  expect(value(1)).toEqual({ value: null, length: 0 });
  // An oversized value: only its head is kept, with its whole length.
  expect(value(2)).toEqual({ value: huge.slice(0, DLQ_VALUE_LIMIT), length: huge.length });
  expect(value(3)).toEqual({ value: '', length: 0 });
  expect(value(4)).toEqual({ value: 'two', length: 3 });
});
