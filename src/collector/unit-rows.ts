/**
 * From a unit's messages to what its write needs: its rows, in its batch or
 * in the engine's stage, and the dead letters of its invalid messages.
 *
 * On the embedded warehouse the engine parses and checks a unit of valid
 * events itself (events/staged-units.ts), all or nothing, once the unit is
 * sealed: the parser thread only scans the values (one event per message,
 * forms both parsers read alike: events/engine-scan.ts), the engine stages
 * them ahead of the unit's write, and the rows go engine to engine into
 * inference_requests. Any other unit (a tombstone, an invalid event, an odd
 * form, an id twice) is parsed whole by the parser thread, which judges each
 * message with the event schema; its rejects become dead letters. On a
 * ClickHouse server (or with engine units off) each fetch's messages go to
 * the parser thread as they are taken, so parsing keeps pace with fetching.
 * Every dead letter and its reason come from the schema, whichever path a
 * unit takes.
 */
import { formatDateTime64 } from '../events/request-event.js';
import type { ParsedRecords } from '../events/parse-records.js';
import type { EngineScan } from '../events/engine-scan.js';
import type { ParserPool } from '../events/parser-pool.js';
import { dropStage, StagedUnit, stageUnit } from '../events/staged-units.js';
import type { StreamMessage } from '../kafka/stream.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { invalidMessageLetter } from './dead-letters.js';
import { messageValue, valueStarts, type PackedMessages } from './message-values.js';
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

type Ready = Awaited<UnitReading['ready']>;
type Sealed = Omit<UnitReading, 'ready'>;

export class UnitRows {
  private readonly source: string;
  private readonly engine: boolean;
  /** Stage statements one after another, in the order units were sealed: the engine runs one statement at a time. */
  private stagings: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly options: UnitRowsOptions,
    private readonly deps: UnitRowsDeps,
  ) {
    this.source = `kafka:${options.topic}`;
    this.engine = options.engine && deps.afterParse === undefined;
  }

  /** Take messages [from, to) of a fetched batch into the open unit; without the engine, they go to a parser thread now. */
  take(unit: Unit, messages: readonly StreamMessage[], from: number, to: number): void {
    const chunk = unit.taken.take(messages, from, to, this.options.maxMessageBytes);
    if (!this.engine) unit.readings.push(this.startReading(chunk, false));
  }

  /** At seal time: with the engine, the unit's values go to a parser thread at once, to be staged ahead of its write. */
  seal(unit: Unit): void {
    if (this.engine && !unit.taken.sealed && unit.taken.count > 0) unit.readings.push(this.startReading(unit.taken.seal(), true));
  }

  /**
   * Put the unit's rows in its batch (or its stage) and its dead letters in
   * the unit; once done, a retried write does not repeat it. Throws when
   * staging failed for a reason other than the unit's content (the write is
   * retried, and staging with it), or when the parser thread broke.
   */
  async prepare(unit: Unit): Promise<void> {
    if (unit.prepared) return;
    this.seal(unit);
    // A reading taken into the batch leaves the list, so that a retry after a later one failed does not take it twice.
    while (unit.readings.length > 0) {
      await this.takeReading(unit, unit.readings[0] as UnitReading);
      unit.readings.shift();
    }
    unit.prepared = true;
  }

  /** One reading's rows into the unit's batch (or its stage), its rejects into the unit's dead letters. */
  private async takeReading(unit: Unit, reading: UnitReading): Promise<void> {
    const { offsets, lengths } = reading.messages;
    let ready: Ready;
    try {
      ready = await reading.ready;
    } catch (err) {
      if (!(err instanceof StagingFailure)) throw err;
      // Staging failed for the warehouse's sake (ahead of this write, or in its last attempt): stage again now.
      reading.ready = this.stage(reading, err.bytes, err.scanned);
      ready = await reading.ready;
    }
    if ('staged' in ready) {
      unit.batch.addStaged(ready.staged, (record) => offsets[record] as number);
      return;
    }
    const parsed = this.deps.afterParse ? this.deps.afterParse(ready.parsed) : ready.parsed;
    unit.batch.addRows(parsed, 0, parsed.ids.length, (record) => offsets[record] as number);
    if (parsed.rejects.length === 0) return;
    const bytes = asBuffer(ready.bytes);
    const starts = valueStarts(lengths, this.options.maxMessageBytes);
    for (const bad of parsed.rejects) {
      const value = messageValue(reading.messages, bytes, starts, bad.record, this.options.maxMessageBytes);
      unit.deadLetters.push(invalidMessageLetter(this.options.topic, unit.partition, { offset: String(offsets[bad.record]), ...value }, bad));
    }
  }

  /** A unit that will not be written here (its partition moved away): its stage, if it has one, is dropped. */
  async discard(unit: Unit): Promise<void> {
    if (unit.prepared) return;
    for (const reading of unit.readings) {
      const ready = await reading.ready.catch(() => undefined);
      if (ready && 'staged' in ready) await dropStage(this.deps.warehouse, ready.staged);
    }
  }

  /** Send a run of messages to a parser thread; its `ingested_at` is now. */
  private startReading(packed: PackedMessages, engine: boolean): UnitReading {
    const { bytes, ...messages } = packed;
    const sealed = { messages, ingestedAt: formatDateTime64(Date.now()) };
    const ready = this.read(sealed, bytes, engine);
    // Awaited by the unit's write; a failure seen first there is not unhandled here.
    ready.catch(() => undefined);
    return { ...sealed, ready };
  }

  /** Read the values in a parser thread: scanned (then staged) when the engine may take them, parsed otherwise. */
  private async read(reading: Sealed, bytes: Uint8Array, engine: boolean): Promise<Ready> {
    const read = await this.deps.parsers.readMessages({ bytes, lengths: reading.messages.lengths, maxRecordBytes: this.options.maxMessageBytes, source: this.source, ingestedAt: reading.ingestedAt, engine });
    if ('parsed' in read) return { parsed: read.parsed, bytes: read.bytes };
    return this.stage(reading, asBuffer(read.bytes), read.scanned);
  }

  /** Stage a scanned unit, after the stagings before it; a unit the engine refuses goes back to the parser thread. */
  private stage(reading: Sealed, bytes: Buffer, scanned: EngineScan): Promise<Ready> {
    const staging = this.stagings.then(async (): Promise<Ready> => {
      let staged: StagedUnit | { refused: string };
      try {
        staged = await stageUnit(this.deps.warehouse, bytes, scanned, {
          source: this.source,
          ingestedAt: reading.ingestedAt,
          maxRecordBytes: this.options.maxMessageBytes,
          nowMs: Date.now(),
        });
      } catch (err) {
        // The warehouse failed: the unit's write sees it and is retried, staging again from these bytes.
        throw new StagingFailure(err, bytes, scanned);
      }
      if (staged instanceof StagedUnit) return { staged };
      // Not the engine's (an invalid event, an id twice): the schema judges every message.
      return this.read(reading, bytes, false);
    });
    this.stagings = staging.catch(() => undefined);
    staging.catch(() => undefined);
    return staging;
  }
}

/** Staging failed for the warehouse's sake; the bytes and the scan are kept for the next attempt. */
class StagingFailure extends Error {
  constructor(
    cause: unknown,
    readonly bytes: Buffer,
    readonly scanned: EngineScan,
  ) {
    super(`staging a unit: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'StagingFailure';
  }
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
