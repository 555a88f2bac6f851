/**
 * Partition state of the request collector: for each partition the group
 * assigned to this member, its open unit and how far its messages are taken,
 * written and committed. One owner of "is this partition still ours", which
 * writes and commits both ask: a unit of a partition that moved away must be
 * neither written nor committed by us.
 */
import type { RequestBatch } from '../request-writer/request-batch.js';
import type { OutgoingMessage, StreamMessage } from '../kafka/stream.js';
import type { ParsedRecords } from '../events/parse-records.js';
import type { StagedUnit } from '../events/staged-units.js';
import { TakenMessages, type PackedMessages } from './message-values.js';

/**
 * A run of a unit's messages on their way to rows (unit-rows.ts): read by a
 * parser thread, then staged by the engine or parsed. The bytes travel with
 * the read.
 */
export interface UnitReading {
  messages: Omit<PackedMessages, 'bytes'>;
  /** The `ingested_at` of the run's rows: when it was taken (parser threads) or its unit sealed (engine). */
  ingestedAt: string;
  /** The rows in the engine's stage, or parsed by the parser thread (with the bytes given back, for dead letters). */
  ready: Promise<{ staged: StagedUnit } | { parsed: ParsedRecords; bytes: Uint8Array }>;
}

/**
 * Taken messages of one partition that are written and committed together.
 * A unit holds the messages' values until they are read (unit-rows.ts) into
 * its batch's rows and its dead letters: a fetch at a time as they are taken
 * (parser threads), or the whole unit once sealed (engine).
 */
export interface Unit {
  partition: number;
  /** The partition's state when the unit was sealed; replaced when the partition moved away. */
  state: PartitionState;
  taken: TakenMessages;
  /** The reads of the values, in offset order. */
  readings: UnitReading[];
  /** Whether the rows are in `batch` (or its stage) and the dead letters in `deadLetters`. */
  prepared: boolean;
  batch: RequestBatch;
  deadLetters: OutgoingMessage[];
  messages: number;
  /** Offset of the last message taken; undefined while empty. */
  lastOffset: string | undefined;
  /** When the first message was taken (ms), for the age limit. */
  openedAt: number;
}

/** One assigned partition: its open unit and how far it is taken, written and committed. */
export class PartitionState {
  open: Unit;
  /** The partition's previous unit, queued or being written; at most one, which bounds memory. */
  inFlight: Promise<void> | undefined;
  /** Every offset below this was taken in this session: a redelivery of it is skipped. */
  takenUpTo: bigint | undefined;
  /** Bytes of the values of taken messages waiting for room in a unit, and the chain that puts them in, in order. */
  backlogBytes = 0;
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

  /**
   * Index of the first message of a fetched batch not taken before in this
   * session. Offsets in a batch ascend: only its head can repeat what was
   * taken (a redelivery after a rebalance).
   */
  firstUntaken(messages: readonly StreamMessage[]): number {
    let from = 0;
    if (this.takenUpTo !== undefined) {
      const upTo = this.takenUpTo;
      while (from < messages.length && BigInt((messages[from] as StreamMessage).offset) < upTo) from++;
    }
    return from;
  }

  private newUnit(): Unit {
    return { partition: this.partition, state: this, taken: new TakenMessages(), readings: [], prepared: false, batch: this.newBatch(), deadLetters: [], messages: 0, lastOffset: undefined, openedAt: 0 };
  }
}

/** The partitions assigned to this member and the state of each one taken from. */
export class PartitionStates {
  private readonly states = new Map<number, PartitionState>();
  private assigned = new Set<number>();

  constructor(private readonly newBatch: () => RequestBatch) {}

  /**
   * The group's new assignment. States of partitions we lost are dropped,
   * their units unwritten: uncommitted, so their new owner reads them again.
   * Returns the dropped states.
   */
  assign(partitions: readonly number[]): PartitionState[] {
    this.assigned = new Set(partitions);
    const lost: PartitionState[] = [];
    for (const [partition, state] of this.states) {
      if (!this.assigned.has(partition)) {
        lost.push(state);
        this.states.delete(partition);
      }
    }
    return lost;
  }

  /** Assigned partitions, ascending. */
  assignedPartitions(): number[] {
    return [...this.assigned].sort((a, b) => a - b);
  }

  /** The partition's state, made on its first batch. */
  stateOf(partition: number): PartitionState {
    let state = this.states.get(partition);
    if (!state) {
      state = new PartitionState(partition, this.newBatch);
      this.states.set(partition, state);
    }
    return state;
  }

  /** Whether `state` is still the partition's state (not dropped by a reassignment since). */
  isCurrent(state: PartitionState): boolean {
    return this.states.get(state.partition) === state;
  }

  /** Whether we may write and commit for `state`: its partition is assigned to us and the state is current. */
  owns(state: PartitionState): boolean {
    return this.assigned.has(state.partition) && this.isCurrent(state);
  }

  values(): IterableIterator<PartitionState> {
    return this.states.values();
  }
}
