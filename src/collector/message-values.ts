/**
 * What a parser thread receives for a fetched batch: the message values
 * back to back in one buffer, their lengths beside (-1 for a tombstone).
 * One copy into memory the thread can take, instead of a structured clone
 * of kafkajs' message objects; an oversized value is left out on its length
 * alone, so it is never copied.
 */
import type { StreamMessage } from '../kafka/stream.js';

export interface PackedValues {
  bytes: Buffer;
  lengths: Int32Array;
}

/** Values of messages [from, end), those longer than `maxBytes` left out of `bytes` (their length still given). */
export function packValues(messages: readonly StreamMessage[], from: number, maxBytes: number): PackedValues {
  const lengths = new Int32Array(messages.length - from);
  let total = 0;
  for (let i = from; i < messages.length; i++) {
    const length = (messages[i] as StreamMessage).value?.length ?? -1;
    lengths[i - from] = length;
    if (length > 0 && length <= maxBytes) total += length;
  }
  const bytes = Buffer.allocUnsafeSlow(total);
  let at = 0;
  for (let i = from; i < messages.length; i++) {
    const value = (messages[i] as StreamMessage).value;
    if (value && value.length <= maxBytes) at += value.copy(bytes, at);
  }
  return { bytes, lengths };
}
