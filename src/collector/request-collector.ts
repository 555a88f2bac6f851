/**
 * `inferledger collect requests`: request events from a Kafka topic into
 * inference_requests, each valid event counted once, each invalid one in the
 * dead-letter topic.
 *
 * The path of a message:
 *   fetch (one partition's batch) -> decode + validate -> the partition's open
 *   batch (rows, dead letters, next offset) -> sealed by size, bytes or age ->
 *   one write queue for all partitions: dead letters sent, rows inserted,
 *   then the partition's offset committed.
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
 * consumption is paused; nothing later is committed before it. SIGTERM: stop
 * taking messages, write and commit what was taken, leave the group.
 */
import pRetry, { AbortError } from 'p-retry';
import { formatDateTime64, serializeRequestRow } from '../events/request-event.js';
import type { FlushResult, RequestBatch } from '../ingest/request-batch-writer.js';
import { RequestBatchWriter } from '../ingest/request-batch-writer.js';
import type { StreamAdmin, StreamClient, StreamConsumer, StreamMessage, StreamProducer, OutgoingMessage, PartitionBatch, BatchControl } from '../kafka/stream.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { CollectorMetrics, type Health } from './collector-metrics.js';
import { decodeRequestMessage } from './decode-message.js';
import { dlqTopicOf } from '../kafka/topics.js';

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
}

export interface CollectorDeps {
  warehouse: Warehouse;
  client: StreamClient;
  log: (line: string) => void;
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

/** Header names on a dead letter. */
export const DLQ_HEADERS = {
  reason: 'inferledger-reason',
  field: 'inferledger-field',
  topic: 'inferledger-source-topic',
  partition: 'inferledger-source-partition',
  offset: 'inferledger-source-offset',
  truncated: 'inferledger-truncated',
} as const;

/** A dead letter carries at most this much of the original value (the DLQ topic keeps Kafka's default message size). */
const DLQ_VALUE_LIMIT = 256 * 1024;

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
  /** ingested_at of the unit's rows. */
  ingestedAt: string;
  deadLettered: boolean;
  result: FlushResult | undefined;
}

/** One assigned partition: its open unit and how far it is taken, written and committed. */
class PartitionState {
  open: Unit;
  /** The partition's previous unit, queued or being written; at most one, which bounds memory. */
  inFlight: Promise<void> | undefined;
  /** Every offset below this was taken in this session: a redelivery of it is skipped. */
  takenUpTo: bigint | undefined;
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
    return { partition: this.partition, state: this, batch: this.newBatch(), deadLetters: [], messages: 0, lastOffset: undefined, openedAt: 0, ingestedAt: '', deadLettered: false, result: undefined };
  }
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

  constructor(
    private readonly options: CollectorOptions,
    private readonly deps: CollectorDeps,
  ) {
    this.dlqTopic = dlqTopicOf(options.topic, options.dlqTopic);
    this.source = `kafka:${options.topic}`;
    this.writer = new RequestBatchWriter(deps.warehouse);
    this.metrics = new CollectorMetrics(() => this.lag());
  }

  /** Join the group and start consuming; returns once the consumer runs. */
  async start(): Promise<void> {
    const { client } = this.deps;
    this.admin = await client.admin();
    this.producer = await client.producer();
    this.consumer = await client.consumer(
      {
        groupId: this.options.groupId,
        topic: this.options.topic,
        sessionTimeoutMs: this.options.sessionTimeoutMs,
        partitionsConcurrently: this.options.partitionsConcurrently,
        maxBytesPerPartition: Math.min(this.options.batchBytes, 4 * 1024 * 1024),
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
    const admin = this.requireAdmin();
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
    // Handlers see `stopping` and return; wait so none adds to a unit after it is sealed.
    if (this.activeHandlers > 0) await Promise.race([new Promise<void>((resolve) => { this.handlersIdle = resolve; }), deadline]);
    for (const state of this.partitions.values()) {
      if (state.open.messages > 0) this.seal(state);
      else if (state.uncommitted) this.enqueue(state, () => this.commit(state.partition, state));
    }
    const drained = (await Promise.race([this.writeQueue.then(() => 'drained' as const), deadline])) === 'drained';
    if (!drained) {
      this.deps.log(`collector: gave up writing ${this.queued} batch(es) after ${this.options.shutdownTimeoutMs} ms; their messages stay uncommitted and are read again on the next start`);
      this.abandon.abort();
    }
    await Promise.allSettled([this.consumer?.stop(), this.producer?.stop(), this.admin?.stop()]);
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

  private async handle(batch: PartitionBatch, control: BatchControl): Promise<void> {
    if (this.stopping) return;
    this.activeHandlers++;
    try {
      await this.take(batch, control);
    } finally {
      if (--this.activeHandlers === 0) this.handlersIdle?.();
    }
  }

  private async take(batch: PartitionBatch, control: BatchControl): Promise<void> {
    this.lastFetchAt = Date.now();
    const { partition, messages } = batch;
    const state = this.stateOf(partition);
    // Offsets in a batch ascend by at least one: only its head can repeat what was taken (a redelivery after a rebalance).
    let from = 0;
    if (state.takenUpTo !== undefined) {
      const upTo = state.takenUpTo;
      while (from < messages.length && BigInt((messages[from] as StreamMessage).offset) < upTo) from++;
    }
    // The fetch position moves once per batch (kafkajs parses the offset as a 64-bit Long each time).
    let taken: string | undefined = from > 0 ? messages[from - 1]?.offset : undefined;
    try {
      for (let i = from; i < messages.length; i++) {
        const message = messages[i] as StreamMessage;
        if (this.stopping || !control.isRunning()) return;
        if (this.isFull(state.open)) {
          // The previous unit must be written before this one is queued: one in flight per partition.
          if (!(await this.waitForRoom(state, control))) return;
          this.seal(state);
        }
        this.add(state.open, batch.topic, message);
        taken = message.offset;
      }
    } finally {
      if (taken !== undefined) {
        state.takenUpTo = BigInt(taken) + 1n;
        control.markTaken(taken);
      }
    }
    if (this.isFull(state.open) && state.inFlight === undefined) this.seal(state);
  }

  private add(unit: Unit, topic: string, message: StreamMessage): void {
    if (unit.messages === 0) {
      unit.openedAt = Date.now();
      // Once per unit: formatting the clock per message also evicted the event-time cache of formatDateTime64.
      unit.ingestedAt = formatDateTime64(unit.openedAt);
    }
    unit.messages++;
    unit.lastOffset = message.offset;
    this.stats.messages++;
    this.metrics.messages.inc();
    const outcome = decodeRequestMessage(message.value, this.options.maxMessageBytes);
    if (outcome.ok) {
      const { event } = outcome;
      unit.batch.add(event.request_id, event.ts, serializeRequestRow(event, outcome.attributes, this.source, unit.ingestedAt));
      return;
    }
    const value = message.value ?? null;
    const truncated = value !== null && value.length > DLQ_VALUE_LIMIT;
    unit.deadLetters.push({
      key: `${topic}/${unit.partition}/${message.offset}`,
      value: truncated ? value.subarray(0, DLQ_VALUE_LIMIT) : value,
      headers: {
        [DLQ_HEADERS.reason]: outcome.reason,
        [DLQ_HEADERS.field]: outcome.field,
        [DLQ_HEADERS.topic]: topic,
        [DLQ_HEADERS.partition]: String(unit.partition),
        [DLQ_HEADERS.offset]: message.offset,
        ...(truncated ? { [DLQ_HEADERS.truncated]: `first ${DLQ_VALUE_LIMIT} of ${value.length} bytes` } : {}),
      },
    });
  }

  private isFull(unit: Unit): boolean {
    return unit.messages >= this.options.batchRows || unit.batch.bytes >= this.options.batchBytes;
  }

  /** Wait until the partition's previous unit is written, heartbeating meanwhile; false when stopping. */
  private async waitForRoom(state: PartitionState, control: BatchControl): Promise<boolean> {
    const heartbeatMs = Math.max(1000, Math.floor(this.options.sessionTimeoutMs / 5));
    for (let pending = state.inFlight; pending; pending = state.inFlight) {
      await Promise.race([pending, sleep(heartbeatMs)]);
      if (this.stopping || !control.isRunning()) return false;
      // Throws while the group rebalances; kafkajs then rejoins and redelivers from the committed offsets.
      if (state.inFlight === pending) await control.heartbeat();
    }
    return true;
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
        this.enqueue(state, () => this.commit(partition, state));
      }
    }
  }

  private seal(state: PartitionState): void {
    const unit = state.reopen();
    this.enqueue(state, () => this.deliver(unit));
  }

  /** Queue a write task of a partition; the partition's `inFlight` covers it until done. */
  private enqueue(state: PartitionState, task: () => Promise<void>): void {
    this.queued++;
    const done = this.writeQueue.then(task);
    this.writeQueue = done;
    state.inFlight = done;
    void done.finally(() => {
      this.queued--;
      if (state.inFlight === done) state.inFlight = undefined;
    });
  }

  /** Dead letters, then rows, then the commit; failed steps retried until they succeed or shutdown gives up. Never rejects. */
  private async deliver(unit: Unit): Promise<void> {
    if (!this.owns(unit)) {
      // The partition moved to another member, which reads these messages again from the committed offset.
      this.deps.log(`collector: dropped ${unit.messages} unwritten message(s) of partition ${unit.partition}, now another member's`);
      return;
    }
    try {
      await pRetry(() => this.writeUnit(unit), {
        forever: true,
        minTimeout: this.options.retryMinMs,
        maxTimeout: this.options.retryMaxMs,
        randomize: true,
        signal: this.abandon.signal,
        onFailedAttempt: (err) => {
          this.stats.writeFailures++;
          this.metrics.writeFailures.inc();
          this.failingSince ??= Date.now();
          this.deps.log(`collector: writing partition ${unit.partition} failed (attempt ${err.attemptNumber}), retrying: ${err.message}`);
          this.pauseForFailure();
        },
      });
    } catch (err) {
      // Only shutdown gives up; the unit stays uncommitted and is consumed again later.
      this.deps.log(`collector: partition ${unit.partition}: ${(err as Error).message}`);
      return;
    }
    this.lastWriteAt = Date.now();
    this.failingSince = undefined;
    this.resumeAfterFailure();
    if (unit.lastOffset !== undefined) unit.state.written = BigInt(unit.lastOffset) + 1n;
    await this.commit(unit.partition, unit.state);
  }

  private owns(unit: Unit): boolean {
    return this.assigned.has(unit.partition) && this.partitions.get(unit.partition) === unit.state;
  }

  private async writeUnit(unit: Unit): Promise<void> {
    if (this.abandon.signal.aborted) throw new AbortError('shutting down');
    if (!unit.deadLettered && unit.deadLetters.length > 0) {
      await this.requireProducer().send(this.dlqTopic, unit.deadLetters);
      unit.deadLettered = true;
      this.stats.deadLettered += unit.deadLetters.length;
      this.metrics.deadLetters.inc(unit.deadLetters.length);
    }
    if (unit.result === undefined) {
      const stopTimer = this.metrics.insertSeconds.startTimer();
      // Retrying the same batch is safe: ids the failed attempt did store are found and skipped.
      unit.result = await this.writer.write(unit.batch);
      stopTimer();
      this.stats.written += unit.result.written;
      this.stats.duplicates += unit.result.duplicates;
      this.metrics.rowsWritten.inc(unit.result.written);
      this.metrics.duplicates.inc(unit.result.duplicates);
      this.metrics.batchRows.observe(unit.messages);
    }
  }

  /** Commit what is written of a partition; a failure is retried by the ticker (through the write queue, to keep commits in order). */
  private async commit(partition: number, state: PartitionState): Promise<void> {
    const next = state.written;
    if (next === undefined || (state.committed !== undefined && state.committed >= next)) return;
    if (this.partitions.get(partition) !== state || !this.assigned.has(partition)) return; // its new owner commits; ours could move it backwards
    try {
      await this.requireConsumer().commit(this.options.topic, partition, next.toString());
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

  private requireConsumer(): StreamConsumer {
    if (!this.consumer) throw new Error('collector not started');
    return this.consumer;
  }

  private requireProducer(): StreamProducer {
    if (!this.producer) throw new Error('collector not started');
    return this.producer;
  }

  private requireAdmin(): StreamAdmin {
    if (!this.admin) throw new Error('collector not started');
    return this.admin;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
