/**
 * The request collector's one write queue: every write and every commit runs
 * after the ones queued before it, for all partitions. The warehouse takes
 * one insert at a time best, and a single order keeps commits simple (no
 * offset is committed before the writes queued ahead of it). Units sealed
 * while a write runs wait here and are written together by the next one.
 */
import type { PartitionState, Unit } from './partition-state.js';

export class WriteQueue {
  private tail: Promise<void> = Promise.resolve();
  /** Units sealed and waiting for the next write, which takes them all. */
  private sealed: Unit[] = [];
  private nextWrite: Promise<void> | undefined;
  private waiting = 0;

  /** `write` gets every unit sealed since the previous write began; it must not reject. */
  constructor(private readonly write: (units: Unit[]) => Promise<void>) {}

  /** Tasks queued and not yet done (writes count once per partition they carry). */
  get queued(): number {
    return this.waiting;
  }

  /**
   * Queue the partition's open unit for writing. Units sealed while a write
   * runs are written together by the next one: one insert for several
   * partitions (larger inserts are cheaper per row) and one send of their
   * dead letters.
   */
  seal(state: PartitionState): void {
    this.sealed.push(state.reopen());
    this.nextWrite ??= this.enqueue(() => {
      this.nextWrite = undefined;
      return this.write(this.sealed.splice(0));
    });
    this.track(state, this.nextWrite);
  }

  /** Queue a task of the partition's (a commit) behind every write queued before it. */
  queueFor(state: PartitionState, task: () => Promise<void>): void {
    this.track(state, this.enqueue(task));
  }

  /** Resolves when everything queued so far is done. */
  drained(): Promise<void> {
    return this.tail;
  }

  /** Run a task after every task queued before it: writes and commits keep their order. */
  private enqueue(task: () => Promise<void>): Promise<void> {
    const done = this.tail.then(task);
    this.tail = done;
    return done;
  }

  /** The partition's `inFlight` covers this queued task until it is done. */
  private track(state: PartitionState, done: Promise<void>): void {
    this.waiting++;
    state.inFlight = done;
    void done.finally(() => {
      this.waiting--;
      if (state.inFlight === done) state.inFlight = undefined;
    });
  }
}
