/**
 * `inferledger collect requests`: request events from a Kafka topic into
 * inference_requests, each valid event counted once, each invalid one in the
 * dead-letter topic.
 *
 * The path of a message:
 *   fetch (one partition's batch, marked taken at once so the next fetch
 *   starts) -> a parser thread: decode + validate + serialise -> the
 *   partition's chain, in offset order -> the partition's open unit (rows,
 *   dead letters, last offset) -> sealed by size, bytes or age -> one write queue for all partitions, each write
 *   taking every unit sealed meanwhile: dead letters sent, rows inserted in
 *   one insert, then each partition's offset committed.
 *
 * Why counts stay exact on at-least-once delivery:
 * - An offset is committed only after its rows were acknowledged by the
 *   warehouse and its dead letters by Kafka; a crash before that replays them.
 * - A replayed event is recognised by its request_id: the batch writer skips
 *   ids it sealed or finds stored (one count, then a lookup, per batch), and
 *   ReplacingMergeTree + FINAL collapses whatever two writers race past it.
 * - Dead letters are keyed `topic/partition/offset`, so a replay after a crash
 *   re-sends the same key (the only place a crash can leave a duplicate).
 *
 * A failed write is retried with backoff, the same batch each time, while
 * consumption is paused; nothing later is committed before it. An insert
 * refused for a row's content is not a failure: the batch writer isolates
 * the offending rows (insert-bisect.ts), they are dead-lettered with
 * conflicting duplicates after the insert, and the collector moves on. SIGTERM: stop
 * taking messages, write and commit what was taken, leave the group.
 */
import pRetry, { AbortError } from 'p-retry';
import { formatDateTime64 } from '../events/request-event.js';
import type { RequestBatch } from '../ingest/request-batch-writer.js';
import { RequestBatchWriter } from '../ingest/request-batch-writer.js';
import type { StreamAdmin, StreamClient, StreamConsumer, StreamMessage, StreamProducer, OutgoingMessage, PartitionBatch, BatchControl } from '../kafka/stream.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { CollectorMetrics, type Health } from './collector-metrics.js';
import type { ParsedRecords, RecordReject } from '../ingest/parse-records.js';
import { ParserPool } from '../ingest/parser-pool.js';
import { dlqTopicOf } from '../kafka/topics.js';
import { invalidMessageLetter, refusedRowLetter } from './dead-letters.js';

export { DLQ_HEADERS } from './dead-letters.js';

export interface CollectorOptions {
  topic: string;
  /** Dead-letter topic; `<topic>.dlq` when empty. */
  dlqTopic: string;
  groupId: string;
  batchRows: number;
  batchBytes: number;
  batchAgeMs: number;
  maxMessageBytes: number;
  partitionsConcurrently: number;
  sessionTimeoutMs: number;
  stuckAfterMs: number;
  shutdownTimeoutMs: number;
  retryMinMs: number;
  retryMaxMs: number;
  /** Parser threads; one less than the cores when unset. */
  parserThreads?: number | undefined;
  /** Hours around an event within which a second copy of its id is a duplicate or a conflict; default 48. */
  duplicateHorizonHours?: number | undefined;
}

export interface CollectorDeps {
  warehouse: Warehouse;
  client: StreamClient;
  log: (line: string) => void;
  /** Test seam: changes parsed rows before they are batched (to reach the warehouse with content validation lets through). */
  afterParse?: (parsed: ParsedRecords) => ParsedRecords;
}

/** What a run did, printed by the CLI and read by tests. */
export interface CollectorStats {
  messages: number;
  written: number;
  duplicates: number;
  deadLettered: number;
  commits: number;
  writeFailures: number;
}

/** Taken messages of one partition that are written and committed together. */
interface Unit {
  partition: number;
  /** The partition's state when the unit was sealed; replaced when the partition moved away. */
  state: PartitionState;
  batch: RequestBatch;
  deadLetters: OutgoingMessage[];
  messages: number;
  /** Offset of the last message taken; undefined while empty. */
  lastOffset: string | undefined;
  /** When the first message was taken (ms), for the age limit. */
  openedAt: number;
}

/** How far one write of sealed units got, so a retry does not repeat a step. */
interface WriteProgress {
  deadLettered: boolean;
  written: boolean;
  /** Dead letters of rows the insert refused, still to send. */
  refused: OutgoingMessage[];
}

/** One assigned partition: its open unit and how far it is taken, written and committed. */
class PartitionState {
  open: Unit;
  /** The partition's previous unit, queued or being written; at most one, which bounds memory. */
  inFlight: Promise<void> | undefined;
  /** Every offset below this was taken in this session: a redelivery of it is skipped. */
  takenUpTo: bigint | undefined;
  /** Taken messages waiting to be parsed, and the chain that parses them in order. */
  backlog = 0;
  chain: Promise<void> = Promise.resolve();
  /** Every offset below this is written; `committed` says how far the group knows it. */
  written: bigint | undefined;
  committed: bigint | undefined;

  constructor(
    readonly partition: number,
    private readonly newBatch: () => RequestBatch,
  ) {
    this.open = this.newUnit();
  }

  /** Whether written offsets wait for a commit (one failed, e.g. during a rebalance). */
  get uncommitted(): boolean {
    return this.written !== undefined && (this.committed === undefined || this.committed < this.written);
  }

  /** Hand over the open unit and start a new one. */
  reopen(): Unit {
    const unit = this.open;
    this.open = this.newUnit();
    return unit;
  }

  private newUnit(): Unit {
    return { partition: this.partition, state: this, batch: this.newBatch(), deadLetters: [], messages: 0, lastOffset: undefined, openedAt: 0 };
  }
}

/** Most bytes one fetch brings per partition: a batch's worth, at most 4 MiB (kafkajs decodes a whole fetch into objects at once). */
export function fetchBytesPerPartition(batchBytes: number): number {
  return Math.min(batchBytes, 4 * 1024 * 1024);
}

export class RequestCollector {
  readonly metrics: CollectorMetrics;
  readonly stats: CollectorStats = { messages: 0, written: 0, duplicates: 0, deadLettered: 0, commits: 0, writeFailures: 0 };
  private readonly dlqTopic: string;
  private readonly writer: RequestBatchWriter;
  private readonly partitions = new Map<number, PartitionState>();
  private assigned = new Set<number>();
  private consumer: StreamConsumer | undefined;
  private producer: StreamProducer | undefined;
  private admin: StreamAdmin | undefined;
  /** All writes, one after another: the warehouse takes one insert at a time best, and order keeps commits simple. */
  private writeQueue: Promise<void> = Promise.resolve();
  /** Units sealed and waiting for the next write, which takes them all. */
  private sealed: Unit[] = [];
  private nextWrite: Promise<void> | undefined;
  private queued = 0;
  private readonly abandon = new AbortController();
  private activeHandlers = 0;
  private handlersIdle: (() => void) | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private stopping: Promise<boolean> | undefined;
  private crashed: Error | undefined;
  private reportCrash: (err: Error) => void = () => undefined;
  /** Resolves with the error when the Kafka consumer stops for good. */
  readonly whenCrashed = new Promise<Error>((resolve) => { this.reportCrash = resolve; });
  private pausedForFailure = false;
  private lastFetchAt = Date.now();
  private lastWriteAt = Date.now();
  private failingSince: number | undefined;
  private readonly source: string;
  private parsers: ParserPool | undefined;

  constructor(
    private readonly options: CollectorOptions,
    private readonly deps: CollectorDeps,
  ) {
    this.dlqTopic = dlqTopicOf(options.topic, options.dlqTopic);
    this.source = `kafka:${options.topic}`;
    this.writer = new RequestBatchWriter(deps.warehouse, options.duplicateHorizonHours === undefined ? {} : { horizonHours: options.duplicateHorizonHours });
    this.metrics = new CollectorMetrics(() => this.lag());
  }

  /** Join the group and start consuming; returns once the consumer runs. */
  async start(): Promise<void> {
    const { client } = this.deps;
    this.parsers = new ParserPool(this.options.parserThreads);
    this.admin = await client.admin();
    this.producer = await client.producer();
    this.consumer = await client.consumer(
      {
        groupId: this.options.groupId,
        topic: this.options.topic,
        sessionTimeoutMs: this.options.sessionTimeoutMs,
        partitionsConcurrently: this.options.partitionsConcurrently,
        maxBytesPerPartition: fetchBytesPerPartition(this.options.batchBytes),
      },
      {
        onAssigned: (assigned) => { this.onAssigned(assigned.find((a) => a.topic === this.options.topic)?.partitions ?? []); },
        onFetch: () => { this.lastFetchAt = Date.now(); },
        onCrash: (err) => {
          this.crashed = err;
          this.reportCrash(err);
          this.deps.log(`collector: the Kafka consumer stopped for good: ${err.message}`);
        },
      },
    );
    this.ticker = setInterval(() => { this.sealAged(); }, Math.max(50, Math.min(1000, Math.floor(this.options.batchAgeMs / 2))));
    await this.consumer.run((batch, control) => this.handle(batch, control));
  }

  /**
   * For `--once`: resolves when the group's committed offsets reached the
   * partition ends seen now (so a backfill stops at what existed when it began).
   */
  async caughtUp(pollMs = 200): Promise<void> {
    const admin = started(this.admin);
    const targets = await admin.topicOffsets(this.options.topic);
    for (;;) {
      if (this.crashed) throw this.crashed;
      const committed = await admin.groupOffsets(this.options.groupId, this.options.topic);
      const behind = targets.filter((t) => {
        const at = committed.get(t.partition);
        return at === undefined ? BigInt(t.high) > BigInt(t.low) : BigInt(at) < BigInt(t.high);
      });
      if (behind.length === 0) return;
      await sleep(pollMs);
    }
  }

  health(): Health {
    const now = Date.now();
    const problems: string[] = [];
    if (this.crashed) problems.push(`consumer crashed: ${this.crashed.message}`);
    if (now - this.lastFetchAt > this.options.stuckAfterMs) problems.push(`no fetch for ${now - this.lastFetchAt} ms`);
    if (this.queued > 0 && now - this.lastWriteAt > this.options.stuckAfterMs) problems.push(`no batch written for ${now - this.lastWriteAt} ms (${this.queued} waiting)`);
    return {
      ok: problems.length === 0,
      detail: {
        problems,
        assigned: [...this.assigned].sort((a, b) => a - b),
        queuedBatches: this.queued,
        failingForMs: this.failingSince === undefined ? 0 : now - this.failingSince,
        ...this.stats,
      },
    };
  }

  /** The error that ended consumption, if one did. */
  get failure(): Error | undefined {
    return this.crashed;
  }

  /**
   * Stop taking messages, write and commit what was taken, leave the group.
   * Resolves true when everything taken was written and committed within the
   * shutdown bound; false when some was given up (it stays uncommitted and is
   * consumed again on the next start).
   */
  stop(): Promise<boolean> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<boolean> {
    const deadline = sleep(this.options.shutdownTimeoutMs).then(() => 'timeout' as const);
    clearInterval(this.ticker);
    try {
      this.consumer?.pause(this.options.topic);
    } catch {
      // Not running yet: nothing to pause.
    }
    // Handlers and parsing chains see `stopping` and return; wait so none adds to a unit after it is sealed.
    if (this.activeHandlers > 0) await Promise.race([new Promise<void>((resolve) => { this.handlersIdle = resolve; }), deadline]);
    await Promise.race([Promise.all([...this.partitions.values()].map((state) => state.chain)), deadline]);
    for (const state of this.partitions.values()) {
      if (state.open.messages > 0) this.seal(state);
      else if (state.uncommitted) this.track(state, this.enqueue(() => this.commit(state.partition, state)));
    }
    const drained = (await Promise.race([this.writeQueue.then(() => 'drained' as const), deadline])) === 'drained';
    if (!drained) {
      this.deps.log(`collector: gave up writing ${this.queued} batch(es) after ${this.options.shutdownTimeoutMs} ms; their messages stay uncommitted and are read again on the next start`);
      this.abandon.abort();
    }
    await Promise.allSettled([this.consumer?.stop(), this.producer?.stop(), this.admin?.stop(), this.parsers?.close()]);
    return drained;
  }

  private onAssigned(partitions: readonly number[]): void {
    this.assigned = new Set(partitions);
    // Units of partitions we lost are dropped unwritten: uncommitted, so their new owner reads them again.
    for (const [partition, state] of this.partitions) {
      if (!this.assigned.has(partition)) {
        if (state.open.messages > 0) this.deps.log(`collector: partition ${partition} moved to another member; its ${state.open.messages} unwritten message(s) are left to it`);
        this.partitions.delete(partition);
      }
    }
    this.deps.log(`collector: assigned partitions [${[...this.assigned].sort((a, b) => a - b).join(', ')}] of ${this.options.topic}`);
  }

  /**
   * A fetched batch: queued on its partition's chain and marked taken at once,
   * so kafkajs fetches the next batch while this one is parsed (it fetches
   * only after the handlers return). Waits only when the partition already
   * has more than a batch's worth of rows queued.
   */
  private async handle(batch: PartitionBatch, control: BatchControl): Promise<void> {
    if (this.stopping) return;
    this.lastFetchAt = Date.now();
    const { partition, messages } = batch;
    const state = this.stateOf(partition);
    // Offsets in a batch ascend: only its head can repeat what was taken (a redelivery after a rebalance).
    let from = 0;
    if (state.takenUpTo !== undefined) {
      const upTo = state.takenUpTo;
      while (from < messages.length && BigInt((messages[from] as StreamMessage).offset) < upTo) from++;
    }
    const last = (messages[messages.length - 1] as StreamMessage).offset;
    // Once per batch: kafkajs parses the offset as a 64-bit Long each time.
    control.markTaken(last);
    if (from === messages.length) return;
    state.takenUpTo = BigInt(last) + 1n;
    state.backlog += messages.length - from;
    const parsing = this.parse(messages, from);
    state.chain = state.chain.then(() => this.take(state, batch.topic, messages, from, parsing)).catch((err: unknown) => { this.fail(err); });
    this.activeHandlers++;
    try {
      await this.waitForBacklog(state, control);
    } finally {
      if (--this.activeHandlers === 0) this.handlersIdle?.();
    }
  }

  /** Send messages [from, end) to a parser thread: their values back to back, their lengths beside. */
  private parse(messages: readonly StreamMessage[], from: number): Promise<ParsedRecords> {
    const max = this.options.maxMessageBytes;
    const lengths = new Int32Array(messages.length - from);
    let total = 0;
    for (let i = from; i < messages.length; i++) {
      const length = (messages[i] as StreamMessage).value?.length ?? -1;
      lengths[i - from] = length;
      // An oversized value is refused on its length alone: not copied.
      if (length > 0 && length <= max) total += length;
    }
    const bytes = Buffer.allocUnsafeSlow(total);
    let at = 0;
    for (let i = from; i < messages.length; i++) {
      const value = (messages[i] as StreamMessage).value;
      if (value && value.length <= max) at += value.copy(bytes, at);
    }
    // Once per fetched batch: ingested_at is when the batch was taken.
    const parsing = started(this.parsers).parse({ mode: 'messages', bytes, lengths, maxRecordBytes: max, source: this.source, ingestedAt: formatDateTime64(Date.now()) });
    const { afterParse } = this.deps;
    return afterParse ? parsing.then(afterParse) : parsing;
  }

  /** Put parsed messages into the partition's units, in offset order (one chain per partition). */
  private async take(state: PartitionState, topic: string, messages: readonly StreamMessage[], from: number, parsing: Promise<ParsedRecords>): Promise<void> {
    const count = messages.length - from;
    try {
      const parsed = await parsing;
      let record = 0;
      let row = 0;
      let reject = 0;
      while (record < count) {
        // Stopping: what is not in a unit is not committed, and is read again on the next start.
        if (this.stopping || this.partitions.get(state.partition) !== state) return;
        if (this.isFull(state.open)) {
          // The previous unit must be written before this one is queued: one in flight per partition.
          if (!(await this.waitForRoom(state))) return;
          this.seal(state);
        }
        const unit = state.open;
        const end = Math.min(count, record + this.options.batchRows - unit.messages);
        let rowEnd = row;
        while (rowEnd < parsed.ids.length && (parsed.rowRecords[rowEnd] as number) < end) rowEnd++;
        let rejectEnd = reject;
        while (rejectEnd < parsed.rejects.length && (parsed.rejects[rejectEnd] as RecordReject).record < end) rejectEnd++;
        if (unit.messages === 0) unit.openedAt = Date.now();
        unit.messages += end - record;
        unit.lastOffset = (messages[from + end - 1] as StreamMessage).offset;
        this.stats.messages += end - record;
        this.metrics.messages.inc(end - record);
        // A row's origin is its message's offset, so a row refused at insert time is dead-lettered under the message's key.
        unit.batch.addRows(parsed, row, rowEnd, (r) => Number((messages[from + r] as StreamMessage).offset));
        for (let r = reject; r < rejectEnd; r++) {
          const bad = parsed.rejects[r] as RecordReject;
          unit.deadLetters.push(invalidMessageLetter(topic, unit.partition, messages[from + bad.record] as StreamMessage, bad));
        }
        record = end;
        row = rowEnd;
        reject = rejectEnd;
      }
      if (this.isFull(state.open) && state.inFlight === undefined) this.seal(state);
    } finally {
      state.backlog -= count;
    }
  }

  /** A bug, not bad input: stop for good rather than commit past messages that were skipped. */
  private fail(err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err));
    this.deps.log(`collector: parsing failed, stopping: ${error.stack ?? error.message}`);
    this.crashed ??= error;
    this.reportCrash(error);
  }

  private isFull(unit: Unit): boolean {
    return unit.messages >= this.options.batchRows || unit.batch.bytes >= this.options.batchBytes;
  }

  /** Wait until the partition's previous unit is written; false when stopping. */
  private async waitForRoom(state: PartitionState): Promise<boolean> {
    while (state.inFlight !== undefined) {
      await state.inFlight;
      if (this.stopping) return false;
    }
    return true;
  }

  /** Hold the fetch while the partition has more than a batch's worth queued, heartbeating meanwhile. */
  private async waitForBacklog(state: PartitionState, control: BatchControl): Promise<void> {
    const heartbeatMs = Math.max(1000, Math.floor(this.options.sessionTimeoutMs / 5));
    while (state.backlog > this.options.batchRows) {
      const chain = state.chain;
      await Promise.race([chain, sleep(heartbeatMs)]);
      if (this.stopping || !control.isRunning()) return;
      // Throws while the group rebalances; kafkajs then rejoins and redelivers from the committed offsets.
      if (state.backlog > this.options.batchRows) await control.heartbeat();
    }
  }

  /** Ticker: seal units past their age; retry commits that failed. */
  private sealAged(): void {
    const now = Date.now();
    for (const [partition, state] of this.partitions) {
      if (state.inFlight !== undefined) continue;
      const { open } = state;
      if (open.messages > 0 && now - open.openedAt >= this.options.batchAgeMs) {
        this.seal(state);
      } else if (state.uncommitted) {
        this.track(state, this.enqueue(() => this.commit(partition, state)));
      }
    }
  }

  /**
   * Queue the partition's open unit for writing. Units sealed while a write
   * runs are written together by the next one: one insert for several
   * partitions (larger inserts are cheaper per row) and one send of their
   * dead letters.
   */
  private seal(state: PartitionState): void {
    this.sealed.push(state.reopen());
    this.nextWrite ??= this.enqueue(() => {
      this.nextWrite = undefined;
      return this.deliver(this.sealed.splice(0));
    });
    this.track(state, this.nextWrite);
  }

  /** Run a task after every task queued before it: writes and commits keep their order. */
  private enqueue(task: () => Promise<void>): Promise<void> {
    const done = this.writeQueue.then(task);
    this.writeQueue = done;
    return done;
  }

  /** The partition's `inFlight` covers this queued task until it is done. */
  private track(state: PartitionState, done: Promise<void>): void {
    this.queued++;
    state.inFlight = done;
    void done.finally(() => {
      this.queued--;
      if (state.inFlight === done) state.inFlight = undefined;
    });
  }

  /** Dead letters, then rows, then the commits; failed steps retried until they succeed or shutdown gives up. Never rejects. */
  private async deliver(sealed: readonly Unit[]): Promise<void> {
    const units = sealed.filter((unit) => {
      if (this.owns(unit)) return true;
      // The partition moved to another member, which reads these messages again from the committed offset.
      this.deps.log(`collector: dropped ${unit.messages} unwritten message(s) of partition ${unit.partition}, now another member's`);
      return false;
    });
    if (units.length === 0) return;
    const progress: WriteProgress = { deadLettered: false, written: false, refused: [] };
    const partitions = units.map((u) => u.partition).join(', ');
    try {
      await pRetry(() => this.write(units, progress), {
        forever: true,
        minTimeout: this.options.retryMinMs,
        maxTimeout: this.options.retryMaxMs,
        randomize: true,
        signal: this.abandon.signal,
        onFailedAttempt: (err) => {
          this.stats.writeFailures++;
          this.metrics.writeFailures.inc();
          this.failingSince ??= Date.now();
          this.deps.log(`collector: writing partition(s) ${partitions} failed (attempt ${err.attemptNumber}), retrying: ${err.message}`);
          this.pauseForFailure();
        },
      });
    } catch (err) {
      // Only shutdown gives up; the units stay uncommitted and are consumed again later.
      this.deps.log(`collector: partition(s) ${partitions}: ${(err as Error).message}`);
      return;
    }
    this.lastWriteAt = Date.now();
    this.failingSince = undefined;
    this.resumeAfterFailure();
    for (const unit of units) {
      if (unit.lastOffset !== undefined) unit.state.written = BigInt(unit.lastOffset) + 1n;
    }
    for (const state of new Set(units.map((u) => u.state))) await this.commit(state.partition, state);
  }

  private owns(unit: Unit): boolean {
    return this.assigned.has(unit.partition) && this.partitions.get(unit.partition) === unit.state;
  }

  /** One attempt; steps that succeeded before are not repeated. Retrying the rows is safe: ids a failed attempt did store are found and skipped. */
  private async write(units: readonly Unit[], progress: WriteProgress): Promise<void> {
    if (this.abandon.signal.aborted) throw new AbortError('shutting down');
    if (!progress.deadLettered) {
      const deadLetters = units.flatMap((u) => u.deadLetters);
      if (deadLetters.length > 0) await started(this.producer).send(this.dlqTopic, deadLetters);
      progress.deadLettered = true;
      this.stats.deadLettered += deadLetters.length;
      this.metrics.deadLetters.inc(deadLetters.length);
    }
    if (!progress.written) {
      const stopTimer = this.metrics.insertSeconds.startTimer();
      const result = await this.writer.write(units.map((u) => u.batch));
      stopTimer();
      progress.written = true;
      progress.refused = result.refused.map((r) => refusedRowLetter(this.options.topic, (units[r.batch] as Unit).partition, r));
      this.stats.written += result.written;
      this.stats.duplicates += result.duplicates;
      this.metrics.rowsWritten.inc(result.written);
      this.metrics.duplicates.inc(result.duplicates);
      this.metrics.batchRows.observe(units.reduce((n, u) => n + u.messages, 0));
    }
    if (progress.refused.length > 0) {
      // Stored rows are never inserted again on a retry: only these letters are re-sent.
      await started(this.producer).send(this.dlqTopic, progress.refused);
      this.stats.deadLettered += progress.refused.length;
      this.metrics.deadLetters.inc(progress.refused.length);
      progress.refused = [];
    }
  }

  /** Commit what is written of a partition; a failure is retried by the ticker (through the write queue, to keep commits in order). */
  private async commit(partition: number, state: PartitionState): Promise<void> {
    const next = state.written;
    if (next === undefined || (state.committed !== undefined && state.committed >= next)) return;
    if (this.partitions.get(partition) !== state || !this.assigned.has(partition)) return; // its new owner commits; ours could move it backwards
    try {
      await started(this.consumer).commit(this.options.topic, partition, next.toString());
      state.committed = next;
      this.stats.commits++;
      this.metrics.commits.inc();
    } catch (err) {
      // The rows are stored: a replay before the retry succeeds finds their ids and skips them.
      this.deps.log(`collector: commit of partition ${partition} at ${next} failed, will retry: ${(err as Error).message}`);
    }
  }

  private pauseForFailure(): void {
    if (this.pausedForFailure || !this.consumer) return;
    this.pausedForFailure = true;
    this.metrics.paused.set(1);
    // The warehouse is shared by every partition: all of them wait, none runs ahead of its commit.
    this.consumer.pause(this.options.topic);
  }

  private resumeAfterFailure(): void {
    if (!this.pausedForFailure || !this.consumer || this.stopping) return;
    this.pausedForFailure = false;
    this.metrics.paused.set(0);
    this.consumer.resume(this.options.topic);
    this.deps.log('collector: writes succeed again; consumption resumed');
  }

  private stateOf(partition: number): PartitionState {
    let state = this.partitions.get(partition);
    if (!state) {
      state = new PartitionState(partition, () => this.writer.newBatch());
      this.partitions.set(partition, state);
    }
    return state;
  }

  private async lag(): Promise<{ topic: string; partition: number; lag: number }[]> {
    if (!this.admin) return [];
    const [ends, committed] = await Promise.all([
      this.admin.topicOffsets(this.options.topic),
      this.admin.groupOffsets(this.options.groupId, this.options.topic),
    ]);
    return ends.map((end) => {
      const from = committed.get(end.partition) ?? end.low;
      return { topic: this.options.topic, partition: end.partition, lag: Number(BigInt(end.high) - BigInt(from)) };
    });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** A part the collector creates in start(); using it before is a bug. */
function started<T>(part: T | undefined): T {
  if (part === undefined) throw new Error('collector not started');
  return part;
}
