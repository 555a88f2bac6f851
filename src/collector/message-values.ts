/**
 * What a parser thread receives for a unit of Kafka messages: the values
 * back to back, each followed by a newline (so that a unit of valid events
 * is NDJSON the engine can read as it is), their lengths beside (-1 for a
 * tombstone). One copy per fetched message, instead of a structured clone of
 * kafkajs' message objects; an oversized value is left out on its length
 * alone, so it is never copied whole.
 */
import type { StreamMessage } from '../kafka/stream.js';
import { DLQ_VALUE_LIMIT } from './dead-letters.js';

const NEWLINE = 0x0a;

export interface PackedValues {
  bytes: Buffer;
  lengths: Int32Array;
}

/**
 * Values of messages [from, to), those longer than `maxBytes` left out of
 * `bytes` (their length still given); with `asLines`, each value in `bytes`
 * is followed by a newline.
 */
export function packValues(messages: readonly StreamMessage[], from: number, maxBytes: number, options: { to?: number; asLines?: boolean } = {}): PackedValues {
  const to = options.to ?? messages.length;
  const lineEnd = options.asLines ? 1 : 0;
  const lengths = new Int32Array(to - from);
  let total = 0;
  for (let i = from; i < to; i++) {
    const length = (messages[i] as StreamMessage).value?.length ?? -1;
    lengths[i - from] = length;
    if (length > 0 && length <= maxBytes) total += length + lineEnd;
  }
  const bytes = Buffer.allocUnsafeSlow(total);
  let at = 0;
  for (let i = from; i < to; i++) {
    const value = (messages[i] as StreamMessage).value;
    if (!value || value.length === 0 || value.length > maxBytes) continue;
    at += value.copy(bytes, at);
    if (lineEnd) bytes[at++] = NEWLINE;
  }
  return { bytes, lengths };
}

/** A run of a unit's messages: the packed values as one request for a parser thread, and what dead letters need of them. */
export interface PackedMessages extends PackedValues {
  /** Offset of each message (a dead letter's key; a row's origin). */
  offsets: Float64Array;
  /** The first DLQ_VALUE_LIMIT bytes of each oversized value, by message index. */
  heads: ReadonlyMap<number, Buffer>;
}

/**
 * The messages a partition's open unit has taken, packed as lines a fetch at
 * a time (a chunk each), with their offsets. Sealing joins the chunks into
 * one request.
 */
export class TakenMessages {
  private readonly chunks: PackedMessages[] = [];
  /** Messages taken. */
  count = 0;
  /** Bytes of values taken (newlines included). */
  bytes = 0;
  /** Whether {@link seal} handed the chunks over (nothing more is taken then). */
  sealed = false;

  /** Take messages [from, to) of a fetched batch as a chunk; values longer than `maxBytes` are measured, not copied. */
  take(messages: readonly StreamMessage[], from: number, to: number, maxBytes: number): PackedMessages {
    if (this.sealed) throw new Error('a sealed unit takes no more messages');
    const { bytes, lengths } = packValues(messages, from, maxBytes, { to, asLines: true });
    const offsets = new Float64Array(to - from);
    const heads = new Map<number, Buffer>();
    for (let i = from; i < to; i++) {
      const message = messages[i] as StreamMessage;
      // The dead letter of an oversized message carries its head: the value itself is not kept.
      if (message.value && message.value.length > maxBytes) heads.set(i - from, Buffer.from(message.value.subarray(0, DLQ_VALUE_LIMIT)));
      offsets[i - from] = Number(message.offset);
    }
    const chunk = { bytes, lengths, offsets, heads };
    this.chunks.push(chunk);
    this.count += to - from;
    this.bytes += bytes.length;
    return chunk;
  }

  /** The taken messages as one request (the chunks joined once, and let go). */
  seal(): PackedMessages {
    if (this.sealed) throw new Error('a unit is sealed once');
    this.sealed = true;
    if (this.chunks.length === 1) return this.chunks.pop() as PackedMessages;
    const lengths = new Int32Array(this.count);
    const offsets = new Float64Array(this.count);
    const heads = new Map<number, Buffer>();
    let at = 0;
    for (const chunk of this.chunks) {
      lengths.set(chunk.lengths, at);
      offsets.set(chunk.offsets, at);
      for (const [i, head] of chunk.heads) heads.set(at + i, head);
      at += chunk.lengths.length;
    }
    const bytes = Buffer.concat(this.chunks.map((c) => c.bytes));
    this.chunks.length = 0;
    return { bytes, lengths, offsets, heads };
  }
}

/**
 * Message `index`'s value as the dead letter carries it (an oversized one
 * cut to its head), read from the sealed bytes given back by the parser
 * thread; `length` is the value's whole length.
 */
export function messageValue(sealed: Pick<PackedMessages, 'lengths' | 'heads'>, bytes: Buffer, starts: Int32Array, index: number, maxBytes: number): { value: Buffer | null; length: number } {
  const length = sealed.lengths[index] as number;
  if (length < 0) return { value: null, length: 0 };
  if (length > maxBytes) return { value: sealed.heads.get(index) ?? Buffer.alloc(0), length };
  const start = starts[index] as number;
  return { value: bytes.subarray(start, start + length), length };
}

/** Where each message's value starts in the sealed bytes (values of newline-ended lines, oversized ones left out). */
export function valueStarts(lengths: Int32Array, maxBytes: number): Int32Array {
  const starts = new Int32Array(lengths.length);
  let at = 0;
  for (let i = 0; i < lengths.length; i++) {
    starts[i] = at;
    const length = lengths[i] as number;
    if (length > 0 && length <= maxBytes) at += length + 1;
  }
  return starts;
}
