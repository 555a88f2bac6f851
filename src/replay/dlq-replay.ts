/**
 * `inferledger dlq replay`: the dead letters of `<topic>.dlq` judged again
 * with today's rules (optionally with fields set by the operator), the ones
 * now valid stored once through the request writer, the rest reported by
 * reason and left in the topic where they are (never dead-lettered again).
 *
 * The replay is a consumer group of its own, so it resumes where it stopped:
 * a chunk's offsets are committed only after its rows are stored, and a
 * chunk stored but not committed (a kill in between) is read again and found
 * stored by the writer. It reads up to the partition ends seen at start, so
 * dead letters arriving meanwhile wait for the next replay. A dry run judges
 * and looks storage up the same way, and stores and commits nothing.
 */
import { z } from 'zod';
import { fetchBytesPerPartition } from '../collector/backpressure.js';
import { DLQ_HEADERS, DLQ_VALUE_LIMIT } from '../collector/dead-letters.js';
import { formatDateTime64 } from '../events/request-event.js';
import type { BatchControl, PartitionBatch, StreamClient, StreamConsumer, StreamMessage } from '../kafka/stream.js';
import { dlqTopicOf, MissingTopicError } from '../kafka/topics.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { ReplayTally, type ReplayReport } from './replay-report.js';
import { ReplayStore } from './replay-store.js';
import { eventOfRefusedRow, judgeValues, withFieldSets, type FieldSets } from './replay-values.js';

export interface DlqReplayOptions {
  /** The request topic; its dead letters are read. */
  topic: string;
  /** Dead-letter topic; `<topic>.dlq` when empty. */
  dlqTopic: string;
  /** The replay's own consumer group. */
  groupId: string;
  /** Keep dead letters sent at or after this instant. */
  since?: Date | undefined;
  /** Keep dead letters whose reason contains this text. */
  reason?: string | undefined;
  sets: FieldSets;
  dryRun: boolean;
  /** Dead letters stored (and committed) together. */
  batchRows: number;
  batchBytes: number;
  maxMessageBytes: number;
  sessionTimeoutMs: number;
  duplicateHorizonHours?: number | undefined;
}

export interface DlqReplayDeps {
  warehouse: Warehouse;
  client: StreamClient;
  log: (line: string) => void;
}

export interface DlqReplayReport extends ReplayReport {
  dlqTopic: string;
  groupId: string;
  /** Per partition, the offsets this run had to read: from the group's position to the end seen at start. */
  partitions: { partition: number; from: string; to: string }[];
}

/** Where a partition's replay stands: `next` is the first offset not yet replayed; `end` the partition end seen at start. */
interface Range {
  from: bigint;
  next: bigint;
  end: bigint;
}

const headerValue = z.union([z.string(), z.instanceof(Buffer)]);
/** A dead letter as the client hands it over, checked: its offset, value, timestamp and headers. */
const deadLetterShape = z.object({
  offset: z.string().regex(/^\d+$/),
  value: z.instanceof(Buffer).nullable(),
  timestamp: z.string().regex(/^-?\d+$/).optional(),
  headers: z.record(z.string(), z.union([headerValue, z.array(headerValue)]).optional()).optional(),
});

interface DeadLetter {
  offset: string;
  value: Buffer | null;
  /** When it was dead-lettered (ms), if the client says. */
  sentAt: number | undefined;
  reason: string;
  /** Set when the value is the row the event became, not the message. */
  isRow: boolean;
  truncated: string | undefined;
}

function readDeadLetter(message: StreamMessage): DeadLetter | undefined {
  const parsed = deadLetterShape.safeParse(message);
  if (!parsed.success) return undefined;
  const { offset, value, timestamp, headers = {} } = parsed.data;
  const header = (name: string): string | undefined => {
    const raw = headers[name];
    const first = Array.isArray(raw) ? raw[0] : raw;
    return first === undefined ? undefined : first.toString();
  };
  return {
    offset,
    value,
    sentAt: timestamp === undefined ? undefined : Number(timestamp),
    reason: header(DLQ_HEADERS.reason) ?? '',
    isRow: header(DLQ_HEADERS.value) !== undefined,
    truncated: header(DLQ_HEADERS.truncated),
  };
}

export async function replayDeadLetters(options: DlqReplayOptions, deps: DlqReplayDeps): Promise<DlqReplayReport> {
  return new DlqReplay(options, deps).run();
}

class DlqReplay {
  private readonly dlq: string;
  private readonly tally = new ReplayTally();
  private readonly store: ReplayStore;
  private readonly ranges = new Map<number, Range>();
  private consumer: StreamConsumer | undefined;
  private over = false;
  private settle: (failure: Error | undefined) => void = () => undefined;
  /** Resolves when every partition reached its end (undefined) or the replay failed (the error). */
  private readonly finished = new Promise<Error | undefined>((resolve) => { this.settle = resolve; });

  constructor(
    private readonly options: DlqReplayOptions,
    private readonly deps: DlqReplayDeps,
  ) {
    this.dlq = dlqTopicOf(options.topic, options.dlqTopic);
    this.store = new ReplayStore(deps.warehouse, options.dryRun, options.duplicateHorizonHours);
  }

  async run(): Promise<DlqReplayReport> {
    await this.readRanges();
    if (this.pending().length === 0) return this.report();
    const consumer = await this.deps.client.consumer(
      {
        groupId: this.options.groupId,
        topic: this.dlq,
        sessionTimeoutMs: this.options.sessionTimeoutMs,
        // One batch at a time: the writer takes one write at a time, and commits stay in order.
        partitionsConcurrently: 1,
        maxBytesPerPartition: fetchBytesPerPartition(this.options.batchBytes),
      },
      {
        onAssigned: (assigned) => { this.onAssigned(assigned.find((a) => a.topic === this.dlq)?.partitions ?? []); },
        onCrash: (err) => { this.finish(err); },
      },
    );
    this.consumer = consumer;
    let failure: Error | undefined;
    try {
      await consumer.run((batch, control) => this.handle(batch, control));
      failure = await this.finished;
    } finally {
      this.over = true;
      await consumer.stop();
    }
    if (failure) {
      const kept = this.options.dryRun ? '' : `; what was stored is committed, and a new run goes on from there`;
      throw new Error(`replay of ${this.dlq} stopped after ${this.tally.stored} stored: ${failure.message}${kept}`, { cause: failure });
    }
    return this.report();
  }

  /** The offsets to read: from the group's position (the earliest held, for a new group) to the ends seen now. */
  private async readRanges(): Promise<void> {
    const admin = await this.deps.client.admin();
    try {
      if (!(await admin.topicExists(this.dlq))) {
        throw new MissingTopicError(`dead-letter topic ${JSON.stringify(this.dlq)} does not exist: check --topic / KAFKA_TOPIC and KAFKA_DLQ_TOPIC (\`inferledger kafka setup\` creates a topic and its dead-letter topic)`);
      }
      const [ends, committed] = await Promise.all([admin.topicOffsets(this.dlq), admin.groupOffsets(this.options.groupId, this.dlq)]);
      for (const end of ends) {
        const low = BigInt(end.low);
        const at = committed.get(end.partition);
        // Dead letters past their retention are gone: the client starts at the earliest held.
        const from = at === undefined || BigInt(at) < low ? low : BigInt(at);
        this.ranges.set(end.partition, { from, next: from, end: BigInt(end.high) });
      }
    } finally {
      await admin.stop();
    }
  }

  private pending(): number[] {
    return [...this.ranges].filter(([, r]) => r.next < r.end).map(([p]) => p);
  }

  private onAssigned(partitions: readonly number[]): void {
    const others = this.pending().filter((p) => !partitions.includes(p));
    if (others.length > 0) {
      this.deps.log(`dlq replay: partitions [${others.join(', ')}] of ${this.dlq} are assigned to another member of ${this.options.groupId}; this run waits for them (is another replay running with this group?)`);
    }
  }

  /** Whether the replay finished or failed (it may, while a chunk is being stored). */
  private isOver(): boolean {
    return this.over;
  }

  private finish(failure?: Error): void {
    this.over = true;
    this.settle(failure);
  }

  /** One fetched batch: its dead letters up to the end seen at start, in chunks, each stored and then committed. */
  private async handle(batch: PartitionBatch, control: BatchControl): Promise<void> {
    const range = this.ranges.get(batch.partition);
    if (this.over) return;
    if (!range) {
      // A partition added since the start: its dead letters wait for the next replay.
      this.consumer?.pause(this.dlq, [batch.partition]);
      return;
    }
    try {
      const todo = batch.messages.filter((m) => {
        const offset = BigInt(m.offset);
        return offset >= range.next && offset < range.end;
      });
      const size = this.options.batchRows;
      for (let i = 0; i < todo.length; i += size) {
        if (this.isOver() || !control.isRunning()) return;
        const chunk = todo.slice(i, i + size);
        await this.replayChunk(batch.partition, chunk);
        const last = (chunk[chunk.length - 1] as StreamMessage).offset;
        await this.advance(batch.partition, range, BigInt(last) + 1n);
        control.markTaken(last);
        if (i + size < todo.length) await control.heartbeat();
      }
      // Offsets may skip (e.g. over transaction markers): a message at or past the end means none is left before it.
      if (range.next < range.end && batch.messages.some((m) => BigInt(m.offset) >= range.end)) await this.advance(batch.partition, range, range.end);
      // A batch redelivered from an older position (a dry run commits nothing) is passed over, not fetched again and again.
      const replayed = batch.messages.filter((m) => BigInt(m.offset) < range.next).at(-1);
      if (replayed) control.markTaken(replayed.offset);
      if (range.next >= range.end) {
        this.consumer?.pause(this.dlq, [batch.partition]);
        if (this.pending().length === 0) this.finish();
      }
    } catch (err) {
      this.finish(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** The chunk's rows are stored: the group may resume after them (a dry run commits nothing). */
  private async advance(partition: number, range: Range, next: bigint): Promise<void> {
    if (!this.options.dryRun) await (this.consumer as StreamConsumer).commit(this.dlq, partition, next.toString());
    range.next = next;
  }

  /** Filter, repair, judge and store one chunk of a partition's dead letters. */
  private async replayChunk(partition: number, messages: readonly StreamMessage[]): Promise<void> {
    const { tally, options } = this;
    const letters: DeadLetter[] = [];
    const values: (Buffer | null)[] = [];
    for (const message of messages) {
      tally.read++;
      const at = `${this.dlq}/${partition}/${message.offset}`;
      const letter = readDeadLetter(message);
      if (!letter) {
        tally.refused('not a dead letter: the message has no offset, value or headers as expected', { at, was: '', value: message.value });
        continue;
      }
      if (!this.keeps(letter)) {
        tally.skipped++;
        continue;
      }
      const value = this.eventValue(letter);
      if (typeof value === 'string') {
        tally.refused(value, { at, was: letter.reason, value: letter.value });
        continue;
      }
      letters.push(letter);
      values.push(withFieldSets(value, options.sets, options.maxMessageBytes));
    }
    if (values.length === 0) return;
    const parsed = judgeValues(values, { maxBytes: options.maxMessageBytes, source: `kafka:${options.topic}`, ingestedAt: formatDateTime64(Date.now()) });
    const example = (record: number): { at: string; was: string; value: Buffer | null } => {
      const letter = letters[record] as DeadLetter;
      return { at: `${this.dlq}/${partition}/${letter.offset}`, was: letter.reason, value: values[record] ?? null };
    };
    for (const bad of parsed.rejects) tally.refused(bad.reason, example(bad.record));
    const batch = this.store.newBatch(parsed.ids.length);
    batch.addRows(parsed);
    const outcome = await this.store.store(batch);
    tally.stored += outcome.stored;
    tally.duplicates += outcome.duplicates;
    for (const r of outcome.refused) tally.refused(r.reason, example(r.origin));
  }

  private keeps(letter: DeadLetter): boolean {
    const { since, reason } = this.options;
    if (since !== undefined && (letter.sentAt === undefined || letter.sentAt < since.getTime())) return false;
    return reason === undefined || letter.reason.includes(reason);
  }

  /** The event to judge again, or why the dead letter cannot be replayed. */
  private eventValue(letter: DeadLetter): Buffer | null | string {
    if (letter.truncated !== undefined) return `the dead letter holds only the first ${DLQ_VALUE_LIMIT} bytes of the message (${letter.truncated}): it cannot be replayed`;
    if (!letter.isRow) return letter.value;
    return (letter.value && eventOfRefusedRow(letter.value)) ?? 'the dead letter holds a row that is not an inference_requests row';
  }

  private report(): DlqReplayReport {
    const what = `dead letters of ${this.dlq} (group ${this.options.groupId})`;
    return {
      ...this.tally.report(what, this.options.dryRun),
      dlqTopic: this.dlq,
      groupId: this.options.groupId,
      partitions: [...this.ranges].map(([partition, r]) => ({ partition, from: r.from.toString(), to: r.end.toString() })),
    };
  }
}
