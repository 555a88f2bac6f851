/**
 * Raw bytes in, inference_requests rows out: the CPU-heavy middle of every
 * request source (NDJSON lines, Kafka message values). It runs in a parser
 * thread (see parser-pool.ts) so that decoding, JSON.parse, validation and
 * serialisation use a core of their own while the main thread reads, dedupes
 * and inserts.
 *
 * Input and output are flat buffers and typed arrays, not objects: crossing
 * threads costs a copy per object, and nothing per transferred buffer.
 */
import { decodeJsonEvent, decodeRequestMessage, oversizeReason } from './decode-message.js';
import { HOUR_MS } from '../util/time.js';
import { fingerprintId } from './id-fingerprints.js';
import { cutText, REJECT_RAW_CHARS } from '../files/ingest-run.js';
import { forEachLine, lineText } from '../files/line-reader.js';
import { serializeRequestRow, type ValidationOutcome } from './request-event.js';

const NEWLINE = 0x0a;

export interface ParseRequest {
  /**
   * `lines`: `bytes` holds whole NDJSON lines (the last may lack its newline);
   * blank lines are skipped, a trailing CR dropped.
   * `messages`: `bytes` holds Kafka message values back to back, their lengths
   * in `lengths` (-1 for a tombstone); an empty value is invalid, and a value
   * longer than `maxRecordBytes` is left out of `bytes` (refused by length).
   */
  mode: 'lines' | 'messages';
  bytes: Uint8Array;
  lengths?: Int32Array;
  /** `messages`: each value in `bytes` is followed by a newline (the collector packs a unit as lines the engine can read). */
  lineEnds?: boolean;
  /** Longer records are rejected unread. */
  maxRecordBytes: number;
  /** `source` and `ingested_at` columns of every row. */
  source: string;
  ingestedAt: string;
}

export interface RecordReject {
  /** Index of the record (line or message) in the request, from 0. */
  record: number;
  field: string;
  reason: string;
  /** The record's text, cut to {@link REJECT_RAW_CHARS} (no more crosses threads than is kept); empty for messages (the caller holds their values). */
  raw: string;
}

export interface ParsedRecords {
  /** Records seen, blank lines included (they count for line numbers). */
  records: number;
  /** Blank lines among them (skipped, not rejected). */
  blank: number;
  /** Valid rows as JSONCompactEachRow lines, back to back. */
  rows: Uint8Array<ArrayBuffer>;
  /** End (exclusive) of each row in `rows`. */
  rowEnds: Uint32Array<ArrayBuffer>;
  /** The record each row came from. */
  rowRecords: Uint32Array<ArrayBuffer>;
  ids: string[];
  /** Two hashes per row's id (id-fingerprints.ts), computed here to spare the main thread. */
  idHashes: Uint32Array<ArrayBuffer>;
  /** Event hour of each row, in hours since the epoch. */
  hours: Int32Array<ArrayBuffer>;
  rejects: RecordReject[];
}

/** Grows by doubling; what is written stays in place. */
class RowBuffer {
  private buffer: Buffer;
  used = 0;

  constructor(capacity: number) {
    this.buffer = Buffer.allocUnsafe(Math.max(capacity, 1024));
  }

  append(line: string): number {
    // Room for the worst case (3 UTF-8 bytes per UTF-16 unit) saves measuring the line first.
    const room = line.length * 3 + 1;
    if (this.used + room > this.buffer.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.used + room));
      this.buffer.copy(grown, 0, 0, this.used);
      this.buffer = grown;
    }
    this.used += this.buffer.write(line, this.used);
    this.buffer[this.used++] = NEWLINE;
    return this.used;
  }

  /** The written bytes, in a buffer of their own (so it can be transferred without the spare room). */
  take(): Uint8Array<ArrayBuffer> {
    return new Uint8Array(this.buffer.subarray(0, this.used));
  }
}

export function parseRecords(request: ParseRequest): ParsedRecords {
  const bytes = Buffer.from(request.bytes.buffer, request.bytes.byteOffset, request.bytes.byteLength);
  // Serialised rows are about as long as the input: one allocation in the common case.
  const rows = new RowBuffer(Math.ceil(bytes.length * 1.1));
  const rowEnds: number[] = [];
  const rowRecords: number[] = [];
  const ids: string[] = [];
  const hours: number[] = [];
  const rejects: RecordReject[] = [];

  const accept = (outcome: ValidationOutcome, record: number, raw: string): void => {
    if (!outcome.ok) {
      rejects.push({ record, field: outcome.field, reason: outcome.reason, raw: cutText(raw, REJECT_RAW_CHARS) });
      return;
    }
    const { event } = outcome;
    rowEnds.push(rows.append(serializeRequestRow(event, outcome.attributes, request.source, request.ingestedAt)));
    rowRecords.push(record);
    ids.push(event.request_id);
    hours.push(Math.floor(event.ts / HOUR_MS));
  };

  let records = 0;
  let blank = 0;
  if (request.mode === 'messages') {
    const lengths = request.lengths ?? new Int32Array(0);
    const lineEnd = request.lineEnds ? 1 : 0;
    let at = 0;
    for (let i = 0; i < lengths.length; i++) {
      const length = lengths[i] ?? -1;
      if (length > request.maxRecordBytes) {
        // Not in `bytes`: refused on its length alone.
        rejects.push({ record: i, field: '', reason: oversizeReason(length, request.maxRecordBytes), raw: '' });
        continue;
      }
      const value = length < 0 ? null : bytes.subarray(at, at + length);
      if (length > 0) at += length + lineEnd;
      accept(decodeRequestMessage(value, request.maxRecordBytes), i, '');
    }
    records = lengths.length;
  } else {
    records = forEachLine(bytes, (line, index) => {
      const read = lineText(line, request.maxRecordBytes);
      if ('blank' in read) blank++;
      else if ('problem' in read) rejects.push({ record: index, field: '', reason: read.problem, raw: read.head });
      else accept(decodeJsonEvent(read.text), index, read.text);
    });
  }
  const idHashes = new Uint32Array(2 * ids.length);
  ids.forEach((id, i) => { fingerprintId(id, idHashes, 2 * i); });
  return {
    records,
    idHashes,
    rows: rows.take(),
    rowEnds: Uint32Array.from(rowEnds),
    rowRecords: Uint32Array.from(rowRecords),
    ids,
    hours: Int32Array.from(hours),
    blank,
    rejects,
  };
}
