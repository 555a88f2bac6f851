/**
 * Who may start a query now. Analysts' queries share one process with the
 * collector and the scheduler, so each query is admitted against three
 * limits before it reaches the engine:
 *
 * - per user, queries in any minute (a sliding window): over it, the answer
 *   is at once a 429 with the seconds until the window has room;
 * - per user, queries at once; and for all analysts together, queries at
 *   once and memory: each query reserves its own memory limit (the engine
 *   stops it beyond) out of a total, so analysts never hold more than that
 *   total between them. A query that does not fit waits in line for up to the
 *   queue timeout, then is answered 429. The line is served oldest first; a
 *   query held back only by its own user's limit lets later queries of other
 *   users pass, so one user's burst never blocks the others (a dashboard's
 *   panels wait their turn instead of failing).
 */

/** A refusal by a limit: the message says which; `retryAfterSeconds` goes in Retry-After. */
export class QueryLimitError extends Error {
  override name = 'QueryLimitError';
  constructor(message: string, readonly retryAfterSeconds: number, readonly code = 202, readonly type = 'TOO_MANY_SIMULTANEOUS_QUERIES') {
    super(message);
  }
}

export interface GateLimits {
  /** Queries of all users at once. */
  concurrency: number;
  /** Bytes all running queries may reserve together. */
  totalMemoryBytes: number;
  /** How long a query may wait in line (ms). */
  queueTimeoutMs: number;
}

export interface UserLimits {
  concurrency: number;
  queriesPerMinute: number;
  /** What this query reserves out of the total. */
  memoryBytes: number;
}

const MINUTE_MS = 60_000;

interface Waiter {
  memoryBytes: number;
  user: UserState;
  userConcurrency: number;
  grant: () => void;
}

interface UserState {
  running: number;
  waiting: number;
  /** Start times (ms) of the user's queries in the last minute, oldest first. */
  recent: number[];
}

export class QueryGate {
  private running = 0;
  private reserved = 0;
  private readonly line: Waiter[] = [];
  private readonly users = new Map<string, UserState>();

  constructor(private readonly limits: GateLimits, private readonly now: () => number = Date.now) {}

  get runningQueries(): number { return this.running; }
  get waitingQueries(): number { return this.line.length; }
  get reservedMemoryBytes(): number { return this.reserved; }

  /**
   * Admit one query of `user`; resolves to its release once it may run.
   * Rejects with QueryLimitError (per-user limits at once, the line after the
   * queue timeout), or with `cancelled()` when the signal aborts in line.
   */
  async admit(user: string, limits: UserLimits, signal: AbortSignal, cancelled: () => Error): Promise<() => void> {
    const state = this.userState(user);
    const now = this.now();
    while (state.recent.length > 0 && (state.recent[0] as number) <= now - MINUTE_MS) state.recent.shift();
    if (state.recent.length >= limits.queriesPerMinute) {
      const wait = Math.max(1, Math.ceil(((state.recent[0] as number) + MINUTE_MS - now) / 1000));
      throw new QueryLimitError(`Too many queries: user ${user} may send ${limits.queriesPerMinute} a minute (queries.queriesPerMinute); retry in ${wait} s`, wait, 202, 'QUOTA_EXCEEDED');
    }
    const memoryBytes = Math.min(limits.memoryBytes, this.limits.totalMemoryBytes);
    state.recent.push(now);
    state.waiting++;
    try {
      await this.enter({ memoryBytes, user: state, userConcurrency: limits.concurrency }, signal, cancelled);
    } finally {
      state.waiting--;
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.leave(state, memoryBytes);
    };
  }

  private userState(user: string): UserState {
    // Users idle for a minute are forgotten, so the map holds only the last minute's users.
    if (this.users.size > 1000) this.forgetIdle(this.now());
    let state = this.users.get(user);
    if (!state) {
      state = { running: 0, waiting: 0, recent: [] };
      this.users.set(user, state);
    }
    return state;
  }

  private forgetIdle(now: number): void {
    for (const [name, state] of this.users) {
      if (state.running === 0 && state.waiting === 0 && (state.recent.at(-1) ?? 0) <= now - MINUTE_MS) this.users.delete(name);
    }
  }

  private fitsShared(memoryBytes: number): boolean {
    return this.running < this.limits.concurrency && this.reserved + memoryBytes <= this.limits.totalMemoryBytes;
  }

  private take(entry: Omit<Waiter, 'grant'>): void {
    this.running++;
    this.reserved += entry.memoryBytes;
    entry.user.running++;
  }

  private async enter(entry: Omit<Waiter, 'grant'>, signal: AbortSignal, cancelled: () => Error): Promise<void> {
    // Nobody passes a query already waiting for the shared limits.
    if (this.line.length === 0 && this.fitsShared(entry.memoryBytes) && entry.user.running < entry.userConcurrency) {
      this.take(entry);
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        ...entry,
        grant: () => {
          clearTimeout(timer);
          signal.removeEventListener('abort', gone);
          this.take(entry);
          resolve();
        },
      };
      const leaveLine = (err: Error): void => {
        const i = this.line.indexOf(waiter);
        if (i >= 0) this.line.splice(i, 1);
        // The head leaving may let the next one in.
        this.grantWaiting();
        reject(err);
      };
      const gone = (): void => { clearTimeout(timer); leaveLine(cancelled()); };
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', gone);
        const own = entry.user.running >= entry.userConcurrency;
        leaveLine(new QueryLimitError(
          own
            ? `Too many simultaneous queries: this user may run ${entry.userConcurrency} at once, and this one waited ${this.limits.queueTimeoutMs} ms in line (queries.userConcurrency, queries.queueTimeoutMs)`
            : `Too many simultaneous queries: ${this.limits.concurrency} run at once within ${this.limits.totalMemoryBytes} bytes of memory together, and this one waited ${this.limits.queueTimeoutMs} ms in line (queries.concurrency, queries.maxTotalMemoryBytes, queries.queueTimeoutMs)`,
          Math.max(1, Math.ceil(this.limits.queueTimeoutMs / 1000)),
        ));
      }, this.limits.queueTimeoutMs);
      if (signal.aborted) {
        clearTimeout(timer);
        reject(cancelled());
        return;
      }
      signal.addEventListener('abort', gone, { once: true });
      this.line.push(waiter);
    });
  }

  private leave(user: UserState, memoryBytes: number): void {
    this.running--;
    this.reserved -= memoryBytes;
    user.running--;
    this.grantWaiting();
  }

  /** Oldest first; one held back by its own user's limit is passed over, one held back by the shared limits stops the line. */
  private grantWaiting(): void {
    for (let i = 0; i < this.line.length;) {
      const waiter = this.line[i] as Waiter;
      if (waiter.user.running >= waiter.userConcurrency) {
        i++;
        continue;
      }
      if (!this.fitsShared(waiter.memoryBytes)) return;
      this.line.splice(i, 1);
      waiter.grant();
    }
  }
}
