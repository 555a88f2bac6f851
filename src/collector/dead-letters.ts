/**
 * Dead letters of the request collector: what goes to `<topic>.dlq` for a
 * message that is not a valid event, and for a valid event whose row was not
 * stored (a conflicting duplicate, or content the warehouse refused).
 */
import type { RefusedRow } from '../request-writer/request-batch.js';
import type { OutgoingMessage } from '../kafka/stream.js';

/** Header names on a dead letter. */
export const DLQ_HEADERS = {
  reason: 'inferledger-reason',
  field: 'inferledger-field',
  topic: 'inferledger-source-topic',
  partition: 'inferledger-source-partition',
  offset: 'inferledger-source-offset',
  truncated: 'inferledger-truncated',
  /** Set when the value is the row the event became (the message itself was released before the insert), not the message. */
  value: 'inferledger-value',
} as const;

/** A dead letter carries at most this much of the original value (the DLQ topic keeps Kafka's default message size). */
export const DLQ_VALUE_LIMIT = 256 * 1024;

/**
 * The dead letter of an invalid message: its own value (cut to the limit),
 * keyed by where it was. `length` is the value's whole length when `value`
 * is only its head (the collector keeps no more of an oversized value).
 */
export function invalidMessageLetter(topic: string, partition: number, message: { offset: string; value: Buffer | null; length?: number }, bad: { field: string; reason: string }): OutgoingMessage {
  const value = message.value;
  const length = message.length ?? value?.length ?? 0;
  const truncated = value !== null && length > DLQ_VALUE_LIMIT;
  return {
    key: `${topic}/${partition}/${message.offset}`,
    value: truncated ? value.subarray(0, DLQ_VALUE_LIMIT) : value,
    headers: {
      [DLQ_HEADERS.reason]: bad.reason,
      [DLQ_HEADERS.field]: bad.field,
      [DLQ_HEADERS.topic]: topic,
      [DLQ_HEADERS.partition]: String(partition),
      [DLQ_HEADERS.offset]: message.offset,
      ...(truncated ? { [DLQ_HEADERS.truncated]: `first ${DLQ_VALUE_LIMIT} of ${length} bytes` } : {}),
    },
  };
}

/**
 * The dead letter of a valid event whose row was refused: the row as it would
 * have been stored (a JSON array in inference_requests column order), keyed
 * like any dead letter by the message's topic/partition/offset.
 */
export function refusedRowLetter(topic: string, partition: number, refused: RefusedRow): OutgoingMessage {
  const offset = String(refused.origin);
  return {
    key: `${topic}/${partition}/${offset}`,
    value: refused.row.subarray(0, refused.row.length - (refused.row[refused.row.length - 1] === 0x0a ? 1 : 0)),
    headers: {
      [DLQ_HEADERS.reason]: refused.reason,
      [DLQ_HEADERS.field]: refused.field,
      [DLQ_HEADERS.topic]: topic,
      [DLQ_HEADERS.partition]: String(partition),
      [DLQ_HEADERS.offset]: offset,
      [DLQ_HEADERS.value]: 'inference_requests row (JSONCompactEachRow)',
    },
  };
}
