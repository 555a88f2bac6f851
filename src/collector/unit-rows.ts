/**
 * From a sealed unit's messages to what its write needs: its rows, in its
 * batch or in the engine's stage, and the dead letters of its invalid
 * messages. A unit is read whole when it is sealed, not a fetch at a time,
 * so that the engine can take a batch's worth at once.
 *
 * On the embedded warehouse the engine parses and checks a unit of valid
 * events itself (events/staged-units.ts), all or nothing: the parser thread
 * only scans the values (one event per message, forms both parsers read
 * alike: events/engine-scan.ts), the engine stages them, and the rows go
 * engine to engine into inference_requests. Any other unit (a tombstone, an
 * invalid event, an odd form, an id twice), and every unit on a ClickHouse
 * server, is parsed by the parser thread, which judges each message with
 * the event schema; its rejects become dead letters. So every dead letter
 * and its reason come from the schema, whichever path a unit takes.
 */
import { formatDateTime64 } from '../events/request-event.js';
import type { ParsedRecords } from '../events/parse-records.js';
import type { ParserPool, ReadMessages } from '../events/parser-pool.js';
import { StagedUnit, stageUnit } from '../events/staged-units.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { invalidMessageLetter } from './dead-letters.js';
import { messageValue, valueStarts } from './message-values.js';
import type { Unit, UnitReading } from './partition-state.js';

export interface UnitRowsOptions {
  topic: string;
  maxMessageBytes: number;
  /** Whether the engine may parse units itself (embedded warehouse, engine units on). */
  engine: boolean;
}

export interface UnitRowsDeps {
  parsers: ParserPool;
  warehouse: Warehouse;
  /** Test seam: changes parsed rows before they are batched (units are then always parsed by the parser threads). */
  afterParse?: ((parsed: ParsedRecords) => ParsedRecords) | undefined;
}

export class UnitRows {
  private readonly source: string;
  private readonly engine: boolean;

  constructor(
    private readonly options: UnitRowsOptions,
    private readonly deps: UnitRowsDeps,
  ) {
    this.source = `kafka:${options.topic}`;
    this.engine = options.engine && deps.afterParse === undefined;
  }

  /** At seal time: the unit's values go to a parser thread at once, read while earlier writes run. */
  startReading(unit: Unit): void {
    if (unit.reading) return;
    const { bytes, ...messages } = unit.taken.seal();
    const ingestedAt = formatDateTime64(Date.now());
    unit.reading = { messages, ingestedAt, read: this.read(bytes, messages.lengths, ingestedAt, this.engine) };
  }

  /**
   * Put the unit's rows in its batch (or its stage) and its dead letters in
   * the unit; once done, a retried write does not repeat it. Throws when
   * staging fails for a reason other than the unit's content (the write is
   * retried), or when the parser thread broke.
   */
  async prepare(unit: Unit): Promise<void> {
    if (unit.prepared) return;
    this.startReading(unit);
    const reading = unit.reading as UnitReading;
    const { offsets, lengths } = reading.messages;
    let read = await reading.read;
    if ('scanned' in read) {
      const bytes = asBuffer(read.bytes);
      const staged = await stageUnit(this.deps.warehouse, bytes, read.scanned, {
        source: this.source,
        ingestedAt: reading.ingestedAt,
        maxRecordBytes: this.options.maxMessageBytes,
        nowMs: Date.now(),
      });
      if (staged instanceof StagedUnit) {
        unit.batch.addStaged(staged, (record) => offsets[record] as number);
        unit.prepared = true;
        return;
      }
      // Not the engine's (an invalid event, an id twice): the schema judges every message.
      reading.read = this.read(bytes, lengths, reading.ingestedAt, false);
      read = await reading.read;
    }
    if (!('parsed' in read)) throw new Error('a unit read for the parser thread came back scanned');
    const parsed = this.deps.afterParse ? this.deps.afterParse(read.parsed) : read.parsed;
    unit.batch.addRows(parsed, 0, parsed.ids.length, (record) => offsets[record] as number);
    if (parsed.rejects.length > 0) {
      const bytes = asBuffer(read.bytes);
      const starts = valueStarts(lengths, this.options.maxMessageBytes);
      for (const bad of parsed.rejects) {
        const value = messageValue(reading.messages, bytes, starts, bad.record, this.options.maxMessageBytes);
        unit.deadLetters.push(invalidMessageLetter(this.options.topic, unit.partition, { offset: String(offsets[bad.record]), ...value }, bad));
      }
    }
    unit.prepared = true;
  }

  private read(bytes: Uint8Array, lengths: Int32Array, ingestedAt: string, engine: boolean): Promise<ReadMessages> {
    return this.deps.parsers.readMessages({ bytes, lengths, maxRecordBytes: this.options.maxMessageBytes, source: this.source, ingestedAt, engine });
  }
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
