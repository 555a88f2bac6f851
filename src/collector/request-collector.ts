/**
 * `inferledger collect requests`: request events from a Kafka topic into
 * inference_requests, each valid event counted once, each invalid one in the
 * dead-letter topic.
 *
 * The path of a message:
 *   fetch (one partition's batch, marked taken at once so the next fetch
 *   starts) -> its value copied into the partition's open unit, in offset
 *   order, and sent to a parser thread (or, for the engine, the unit's values
 *   once it is sealed) -> the unit sealed by size, bytes or age -> one write
 *   queue for all partitions, each write
 *   taking every unit sealed meanwhile: each unit's rows and dead letters
 *   (unit-rows.ts: on the embedded warehouse, a unit of valid events is
 *   parsed by the engine itself), dead letters sent, rows inserted, then
 *   each partition's offset committed.
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
 *
 * This file is the loop that composes the parts, each in a module of its
 * own: partition-state.ts (units and how far each partition got),
 * message-values.ts (a unit's values as taken), unit-rows.ts (a sealed
 * unit's rows and dead letters), write-queue.ts (one order for writes and
 * commits), unit-writer.ts (dead letters, insert, retries),
 * offset-commits.ts (what may be committed, lag), backpressure.ts (limits,
 * holding fetches, pausing on failure), dead-letters.ts,
 * collector-health.ts and collector-metrics.ts.
 */
import { canStageUnits, dropStaleStages } from '../events/staged-units.js';
import { RequestBatchWriter } from '../request-writer/request-batch-writer.js';
import type { StreamAdmin, StreamClient, StreamConsumer, StreamMessage, StreamProducer, PartitionBatch, BatchControl } from '../kafka/stream.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { CollectorMetrics, type Health } from './collector-metrics.js';
import type { ParsedRecords } from '../events/parse-records.js';
import { ParserPool } from '../events/parser-pool.js';
import { dlqTopicOf } from '../kafka/topics.js';
import { sleep } from '../util/time.js';
import { ageCheckMs, FailurePause, fetchBytesPerPartition, isAged, isFull, waitForBacklog, waitForRoom } from './backpressure.js';
import { CollectorLiveness, collectorHealth } from './collector-health.js';
import { emptyStats, type CollectorOptions, type CollectorStats } from './collector-options.js';
import { caughtUp, consumerLag, OffsetCommits } from './offset-commits.js';
import { PartitionStates, type PartitionState } from './partition-state.js';
import { UnitRows } from './unit-rows.js';
import { UnitWriter } from './unit-writer.js';
import { WriteQueue } from './write-queue.js';

export { DLQ_HEADERS } from './dead-letters.js';
export { fetchBytesPerPartition } from './backpressure.js';
export type { CollectorOptions, CollectorStats } from './collector-options.js';

export interface CollectorDeps {
  warehouse: Warehouse;
  client: StreamClient;
  log: (line: string) => void;
  /** Test seam: changes parsed rows before they are batched (to reach the warehouse with content validation lets through); units are then always parsed by the parser threads. */
  afterParse?: (parsed: ParsedRecords) => ParsedRecords;
  /** Told after each write that stored new rows, with how many (the service asks for an attribution pass). */
  onRowsWritten?: (rows: number) => void;
  /** Told once, when the group's committed offsets reach the partition ends seen at start (the backlog is in). */
  onCaughtUp?: () => void;
}

export class RequestCollector {
  readonly metrics: CollectorMetrics;
  readonly stats: CollectorStats = emptyStats();
  private readonly dlqTopic: string;
  private readonly rows: RequestBatchWriter;
  private readonly partitions: PartitionStates;
  private readonly queue: WriteQueue;
  private readonly liveness = new CollectorLiveness();
  private consumer: StreamConsumer | undefined;
  private producer: StreamProducer | undefined;
  private admin: StreamAdmin | undefined;
  private commits: OffsetCommits | undefined;
  private writer: UnitWriter | undefined;
  private readonly abandon = new AbortController();
  private activeHandlers = 0;
  private handlersIdle: (() => void) | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private stopping: Promise<boolean> | undefined;
  private crashed: Error | undefined;
  private reportCrash: (err: Error) => void = () => undefined;
  /** Resolves with the error when the Kafka consumer stops for good. */
  readonly whenCrashed = new Promise<Error>((resolve) => { this.reportCrash = resolve; });
  private parsers: ParserPool | undefined;
  private unitRows: UnitRows | undefined;

  constructor(
    private readonly options: CollectorOptions,
    private readonly deps: CollectorDeps,
  ) {
    this.dlqTopic = dlqTopicOf(options.topic, options.dlqTopic);
    this.rows = new RequestBatchWriter(deps.warehouse, options.duplicateHorizonHours === undefined ? {} : { horizonHours: options.duplicateHorizonHours });
    this.partitions = new PartitionStates(() => this.rows.newBatch(options.batchRows));
    this.queue = new WriteQueue((units) => started(this.writer).deliver(units));
    this.metrics = new CollectorMetrics(() => (this.admin ? consumerLag(this.admin, this.options.topic, this.options.groupId) : Promise.resolve([])));
  }

  /** Join the group and start consuming; returns once the consumer runs. */
  async start(): Promise<void> {
    const { client, log } = this.deps;
    const { topic } = this.options;
    const engine = (this.options.engineUnits ?? true) && canStageUnits(this.deps.warehouse);
    // Stages a killed run left behind (this process holds the embedded engine alone).
    if (engine) await dropStaleStages(this.deps.warehouse);
    this.parsers = new ParserPool(this.options.parserThreads);
    this.unitRows = new UnitRows(
      { topic, maxMessageBytes: this.options.maxMessageBytes, engine },
      { parsers: this.parsers, warehouse: this.deps.warehouse, afterParse: this.deps.afterParse },
    );
    this.admin = await client.admin();
    this.producer = await client.producer();
    const consumer = await client.consumer(
      {
        groupId: this.options.groupId,
        topic,
        sessionTimeoutMs: this.options.sessionTimeoutMs,
        partitionsConcurrently: this.options.partitionsConcurrently,
        maxBytesPerPartition: fetchBytesPerPartition(this.options.batchBytes),
      },
      {
        onAssigned: (assigned) => { this.onAssigned(assigned.find((a) => a.topic === topic)?.partitions ?? []); },
        onFetch: () => { this.liveness.fetched(); },
        onCrash: (err) => {
          this.crashed = err;
          this.reportCrash(err);
          log(`collector: the Kafka consumer stopped for good: ${err.message}`);
        },
      },
    );
    this.consumer = consumer;
    const { stats, metrics, partitions } = this;
    this.commits = new OffsetCommits(consumer, topic, partitions, stats, metrics, log);
    const pause = new FailurePause(consumer, topic, metrics, log, () => this.stopping !== undefined);
    this.writer = new UnitWriter(
      { topic, dlqTopic: this.dlqTopic, retryMinMs: this.options.retryMinMs, retryMaxMs: this.options.retryMaxMs },
      {
        producer: this.producer, unitRows: this.unitRows, rows: this.rows, partitions, commits: this.commits, pause, liveness: this.liveness, stats, metrics, log,
        abandon: this.abandon.signal, onRowsWritten: this.deps.onRowsWritten, fail: (err) => { this.fail(err); },
      },
    );
    this.ticker = setInterval(() => { this.sealAged(); }, ageCheckMs(this.options.batchAgeMs));
    await consumer.run((batch, control) => this.handle(batch, control));
    if (this.deps.onCaughtUp) void this.tellCaughtUp(this.deps.onCaughtUp);
  }

  /**
   * Once the group has committed up to the partition ends seen now, tell
   * `onCaughtUp`; stopping or a crash ends the wait silently. A failure to
   * read the offsets is tried again (against the ends read then).
   */
  private async tellCaughtUp(onCaughtUp: () => void): Promise<void> {
    const admin = started(this.admin);
    const stopped = (): Error | undefined => this.crashed ?? (this.stopping ? new Error('stopping') : undefined);
    for (;;) {
      try {
        await caughtUp(admin, this.options.topic, this.options.groupId, stopped, 1000);
        break;
      } catch (err) {
        if (stopped() !== undefined) return;
        this.deps.log(`collector: checking whether the backlog is in: ${(err as Error).message}; trying again`);
        await sleep(1000);
      }
    }
    if (stopped() === undefined) onCaughtUp();
  }

  /**
   * For `--once`: resolves when the group's committed offsets reached the
   * partition ends seen now (so a backfill stops at what existed when it began).
   */
  caughtUp(pollMs = 200): Promise<void> {
    return caughtUp(started(this.admin), this.options.topic, this.options.groupId, () => this.crashed, pollMs);
  }

  health(): Health {
    return collectorHealth({
      crashed: this.crashed,
      liveness: this.liveness,
      queued: this.queue.queued,
      assigned: this.partitions.assignedPartitions(),
      stats: this.stats,
      stuckAfterMs: this.options.stuckAfterMs,
    });
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
      else if (state.uncommitted) this.queueCommit(state);
    }
    const drained = (await Promise.race([this.queue.drained().then(() => 'drained' as const), deadline])) === 'drained';
    if (!drained) {
      this.deps.log(`collector: gave up writing ${this.queue.queued} batch(es) after ${this.options.shutdownTimeoutMs} ms; their messages stay uncommitted and are read again on the next start`);
      this.abandon.abort();
    }
    await Promise.allSettled([this.consumer?.stop(), this.producer?.stop(), this.admin?.stop(), this.parsers?.close()]);
    return drained;
  }

  private onAssigned(partitions: readonly number[]): void {
    for (const state of this.partitions.assign(partitions)) {
      if (state.open.messages > 0) this.deps.log(`collector: partition ${state.partition} moved to another member; its ${state.open.messages} unwritten message(s) are left to it`);
    }
    this.deps.log(`collector: assigned partitions [${this.partitions.assignedPartitions().join(', ')}] of ${this.options.topic}`);
  }

  /**
   * A fetched batch: queued on its partition's chain and marked taken at once,
   * so kafkajs fetches the next batch meanwhile (it fetches only after the
   * handlers return). Waits only when the partition already has more than a
   * fetch's worth of messages waiting for room in a unit.
   */
  private async handle(batch: PartitionBatch, control: BatchControl): Promise<void> {
    if (this.stopping) return;
    this.liveness.fetched();
    const { partition, messages } = batch;
    const state = this.partitions.stateOf(partition);
    const from = state.firstUntaken(messages);
    const last = (messages[messages.length - 1] as StreamMessage).offset;
    // Once per batch: kafkajs parses the offset as a 64-bit Long each time.
    control.markTaken(last);
    if (from === messages.length) return;
    state.takenUpTo = BigInt(last) + 1n;
    let bytes = 0;
    for (let i = from; i < messages.length; i++) bytes += (messages[i] as StreamMessage).value?.length ?? 0;
    state.backlogBytes += bytes;
    state.chain = state.chain.then(() => this.take(state, messages, from, bytes)).catch((err: unknown) => { this.fail(err); });
    this.activeHandlers++;
    try {
      await waitForBacklog(state, control, this.options, () => this.stopping !== undefined);
    } finally {
      if (--this.activeHandlers === 0) this.handlersIdle?.();
    }
  }

  /** Put messages [from, end), `bytes` of values, into the partition's units, in offset order (one chain per partition). */
  private async take(state: PartitionState, messages: readonly StreamMessage[], from: number, bytes: number): Promise<void> {
    const stopping = (): boolean => this.stopping !== undefined;
    try {
      let at = from;
      while (at < messages.length) {
        // Stopping: what is not in a unit is not committed, and is read again on the next start.
        if (this.stopping || !this.partitions.isCurrent(state)) return;
        if (isFull(state.open, this.options)) {
          // The previous unit must be written before this one is queued: one in flight per partition.
          if (!(await waitForRoom(state, stopping))) return;
          this.seal(state);
        }
        const unit = state.open;
        const end = Math.min(messages.length, at + this.options.batchRows - unit.messages);
        if (unit.messages === 0) unit.openedAt = Date.now();
        started(this.unitRows).take(unit, messages, at, end);
        unit.messages += end - at;
        unit.lastOffset = (messages[end - 1] as StreamMessage).offset;
        this.stats.messages += end - at;
        this.metrics.messages.inc(end - at);
        at = end;
      }
      if (isFull(state.open, this.options) && state.inFlight === undefined) this.seal(state);
    } finally {
      state.backlogBytes -= bytes;
    }
  }

  /** Queue the partition's open unit for writing (its values go to a parser thread now, if they have not yet). */
  private seal(state: PartitionState): void {
    started(this.unitRows).seal(state.open);
    this.queue.seal(state);
  }

  /** A bug, not bad input: stop for good rather than commit past messages that were skipped. */
  private fail(err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err));
    this.deps.log(`collector: reading messages failed, stopping: ${error.stack ?? error.message}`);
    this.crashed ??= error;
    this.reportCrash(error);
  }

  /** Ticker: seal units past their age; retry commits that failed. */
  private sealAged(): void {
    const now = Date.now();
    for (const state of this.partitions.values()) {
      if (state.inFlight !== undefined) continue;
      if (isAged(state.open, this.options, now)) {
        this.seal(state);
      } else if (state.uncommitted) {
        this.queueCommit(state);
      }
    }
  }

  /** A commit behind the writes queued before it, so commits keep their order. */
  private queueCommit(state: PartitionState): void {
    const commits = started(this.commits);
    this.queue.queueFor(state, () => commits.commit(state));
  }
}

/** A part the collector creates in start(); using it before is a bug. */
function started<T>(part: T | undefined): T {
  if (part === undefined) throw new Error('collector not started');
  return part;
}
