/**
 * Parser threads: where request bytes become inference_requests rows
 * (parse-records.ts), off the main thread. On two cores the main thread
 * (reading, deduplicating, Kafka) and the engine's insert thread each need
 * most of a core, and parsing needed the rest: in one thread it capped
 * ingestion at ~95k events/s (bench/ingest-file).
 *
 * Requests go to the threads round-robin; each call gets its own promise, so
 * a caller that awaits them in order gets results in order.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { EngineScan } from './engine-scan.js';
import type { ParsedRecords, ParseRequest } from './parse-records.js';

/** A unit scanned for the engine (engine-scan.ts), with its bytes given back. */
export interface ScannedUnit {
  scanned: EngineScan | { refused: string };
  bytes: Uint8Array<ArrayBuffer>;
}

/** A unit of Kafka message values, each followed by a newline (see collector/message-values.ts). */
export interface MessagesRequest {
  bytes: Uint8Array<ArrayBuffer>;
  lengths: Int32Array;
  maxRecordBytes: number;
  source: string;
  ingestedAt: string;
  /** Whether the engine may parse the unit: then it is only scanned when it can (engine-scan.ts). */
  engine: boolean;
}

/** A unit of messages read by a parser thread: scanned for the engine, or parsed. The bytes are given back when scanned, or parsed with rejects (for their dead letters). */
export type ReadMessages = { bytes: Uint8Array<ArrayBuffer>; scanned: EngineScan } | { bytes: Uint8Array<ArrayBuffer>; parsed: ParsedRecords };

type Result = ParsedRecords | ScannedUnit | ReadMessages;

interface Pending {
  resolve: (result: Result) => void;
  reject: (err: Error) => void;
}

/** Default thread count: one less than the cores (the main thread needs one), at least one. */
export function defaultParserThreads(): number {
  return Math.max(1, availableParallelism() - 1);
}

/**
 * A parser thread. Built, it runs parse-worker.js; from TypeScript sources
 * (tests, benchmarks run by tsx or vitest) it loads parse-worker.ts through
 * tsx, as a worker does not inherit the parent's TypeScript loader.
 */
function startWorker(): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./parse-worker.js', import.meta.url));
  const entry = new URL('./parse-worker.js', import.meta.url).href;
  return new Worker(`import('tsx/esm/api').then((tsx) => tsx.tsImport(${JSON.stringify(entry)}, ${JSON.stringify(import.meta.url)}))`, { eval: true });
}

export class ParserPool {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextSeq = 0;
  private failure: Error | undefined;
  private closed = false;

  constructor(threads = defaultParserThreads()) {
    for (let i = 0; i < Math.max(1, threads); i++) {
      const worker = startWorker();
      worker.on('message', (message: { seq: number; parsed?: ParsedRecords; scanned?: ScannedUnit; read?: ReadMessages; error?: string }) => {
        const waiter = this.pending.get(message.seq);
        this.pending.delete(message.seq);
        if (this.pending.size === 0) this.idle();
        if (!waiter) return;
        const result = message.parsed ?? message.scanned ?? message.read;
        if (result) waiter.resolve(result);
        else waiter.reject(new ParserFailure(message.error ?? 'no result'));
      });
      worker.on('error', (err) => { this.failAll(new ParserFailure(err.stack ?? err.message)); });
      worker.on('exit', (code) => {
        if (!this.closed) this.failAll(new ParserFailure(`exited with code ${code}`));
      });
      this.workers.push(worker);
    }
    this.idle();
  }

  /** Parse one request in a thread. Its `bytes` (and `lengths`) are transferred: the caller must not use them after. */
  parse(request: ParseRequest): Promise<ParsedRecords> {
    const bytes = ownBuffer(request.bytes);
    const lengths = request.lengths && ownBuffer(request.lengths);
    const transfer = [bytes.buffer, ...(lengths ? [lengths.buffer] : [])];
    return this.send({ request: { ...request, bytes, lengths } }, transfer) as Promise<ParsedRecords>;
  }

  /**
   * Scan a unit for the engine in a thread (engine-scan.ts): the scan reads
   * every byte, and the main thread has the engine to feed meanwhile. The
   * bytes are transferred there and back: use the ones returned.
   */
  scan(unit: Uint8Array, maxLineBytes: number): Promise<ScannedUnit> {
    const bytes = ownBuffer(unit);
    return this.send({ scan: { bytes, maxLineBytes } }, [bytes.buffer]) as Promise<ScannedUnit>;
  }

  /**
   * Read a unit of Kafka message values in a thread: scanned for the engine
   * when `engine` is set and it may take them, parsed otherwise. The bytes
   * are transferred there, and back when still needed (ReadMessages).
   */
  readMessages(request: Omit<MessagesRequest, 'bytes'> & { bytes: Uint8Array }): Promise<ReadMessages> {
    const bytes = ownBuffer(request.bytes);
    return this.send({ messages: { ...request, bytes } }, [bytes.buffer]) as Promise<ReadMessages>;
  }

  private send(message: object, transfer: ArrayBuffer[]): Promise<Result> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new Error('parser pool is closed'));
    const seq = this.nextSeq++;
    const worker = this.workers[seq % this.workers.length] as Worker;
    const sent = new Promise<Result>((resolve, reject) => {
      if (this.pending.size === 0) for (const w of this.workers) w.ref();
      this.pending.set(seq, { resolve, reject });
      worker.postMessage({ seq, ...message }, transfer);
    });
    // Callers keep several requests in flight and await them in order: a failure is theirs to see when they get there.
    sent.catch(() => undefined);
    return sent;
  }

  /** Idle threads must not keep the process alive; busy ones must (an awaited promise alone does not). */
  private idle(): void {
    for (const w of this.workers) w.unref();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.failAll(new Error('parser pool is closed'));
  }

  private failAll(err: Error): void {
    this.failure ??= err;
    for (const waiter of this.pending.values()) waiter.reject(err);
    this.pending.clear();
    this.idle();
  }
}

/**
 * The view as the sole user of its ArrayBuffer, copying when it shares one
 * (a slice of a read chunk, Node's pooled small Buffers): transferring a
 * shared ArrayBuffer would detach every other view of it.
 */
function ownBuffer(view: Uint8Array): Uint8Array<ArrayBuffer>;
function ownBuffer(view: Int32Array): Int32Array<ArrayBuffer>;
function ownBuffer(view: Uint8Array | Int32Array): Uint8Array<ArrayBuffer> | Int32Array<ArrayBuffer> {
  const whole = view.byteOffset === 0 && view.byteLength === view.buffer.byteLength && view.buffer instanceof ArrayBuffer;
  // A typed-array constructor given a typed array copies it into a new ArrayBuffer (Buffer#slice would not copy).
  if (view instanceof Int32Array) return whole ? (view as Int32Array<ArrayBuffer>) : new Int32Array(view);
  return whole ? (view as Uint8Array<ArrayBuffer>) : new Uint8Array(view);
}

/** A parser thread broke (a bug, not bad input: bad input is a reject). The caller stops. */
export class ParserFailure extends Error {
  constructor(detail: string) {
    super(`parser thread failed: ${detail}`);
    this.name = 'ParserFailure';
  }
}
