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
import type { EngineScan } from '../events/engine-scan.js';
import type { ParserPool } from '../events/parser-pool.js';
import { dropStage, StagedUnit, stageUnit } from '../events/staged-units.js';
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

  /**
   * At seal time: the unit's values go to a parser thread at once, and a
   * unit the engine may take is staged as soon as they come back, ahead of
   * its write: the engine parses it while earlier writes run.
   */
  startReading(unit: Unit): void {
    if (unit.reading) return;
    const { bytes, ...messages } = unit.taken.seal();
    const sealed = { messages, ingestedAt: formatDateTime64(Date.now()) };
    const ready = this.read(sealed, bytes, this.engine);
    // Awaited by the unit's write; a failure seen first there is not unhandled here.
    ready.catch(() => undefined);
    unit.reading = { ...sealed, ready };
  }

  /**
   * Put the unit's rows in its batch (or its stage) and its dead letters in
   * the unit; once done, a retried write does not repeat it. Throws when
   * staging failed for a reason other than the unit's content (the write is
   * retried, and staging with it), or when the parser thread broke.
   */
  async prepare(unit: Unit): Promise<void> {
    if (unit.prepared) return;
    this.startReading(unit);
    const reading = unit.reading as UnitReading;
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
      unit.prepared = true;
      return;
    }
    const parsed = this.deps.afterParse ? this.deps.afterParse(ready.parsed) : ready.parsed;
    unit.batch.addRows(parsed, 0, parsed.ids.length, (record) => offsets[record] as number);
    if (parsed.rejects.length > 0) {
      const bytes = asBuffer(ready.bytes);
      const starts = valueStarts(lengths, this.options.maxMessageBytes);
      for (const bad of parsed.rejects) {
        const value = messageValue(reading.messages, bytes, starts, bad.record, this.options.maxMessageBytes);
        unit.deadLetters.push(invalidMessageLetter(this.options.topic, unit.partition, { offset: String(offsets[bad.record]), ...value }, bad));
      }
    }
    unit.prepared = true;
  }

  /** A unit that will not be written here (its partition moved away): its stage, if it has one, is dropped. */
  async discard(unit: Unit): Promise<void> {
    const ready = await unit.reading?.ready.catch(() => undefined);
    if (ready && 'staged' in ready && !unit.prepared) await dropStage(this.deps.warehouse, ready.staged);
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
