/**
 * Entry of a parser thread: parses each request it is sent and posts the
 * result back, transferring its buffers. See parser-pool.ts.
 */
import { parentPort } from 'node:worker_threads';
import { parseRecords, type ParseRequest } from './parse-records.js';

if (!parentPort) throw new Error('parse-worker.ts runs as a worker thread');
const port = parentPort;

port.on('message', (message: { seq: number; request: ParseRequest }) => {
  try {
    const parsed = parseRecords(message.request);
    port.postMessage({ seq: message.seq, parsed }, [parsed.rows.buffer, parsed.idHashes.buffer, parsed.rowEnds.buffer, parsed.rowRecords.buffer, parsed.hours.buffer]);
  } catch (err) {
    // A bug, not bad input (bad input is a reject): the caller stops.
    port.postMessage({ seq: message.seq, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  }
});
