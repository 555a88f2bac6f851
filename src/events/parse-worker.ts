/**
 * Entry of a parser thread: parses each request it is sent (or scans a unit
 * for the engine) and posts the result back, transferring its buffers. See
 * parser-pool.ts.
 */
import { parentPort } from 'node:worker_threads';
import { scanForEngine, scanMessagesForEngine } from './engine-scan.js';
import { parseRecords, type ParsedRecords, type ParseRequest } from './parse-records.js';
import type { MessagesRequest, ReadMessages } from './parser-pool.js';

if (!parentPort) throw new Error('parse-worker.ts runs as a worker thread');
const port = parentPort;

port.on('message', (message: { seq: number; request?: ParseRequest; scan?: { bytes: Uint8Array<ArrayBuffer>; maxLineBytes: number }; messages?: MessagesRequest }) => {
  try {
    if (message.messages) {
      const read = readMessages(message.messages);
      const transfer = [read.bytes.buffer, ...('scanned' in read ? [read.scanned.rowRecords.buffer] : parsedBuffers(read.parsed))];
      port.postMessage({ seq: message.seq, read }, transfer);
      return;
    }
    if (message.scan) {
      const { bytes, maxLineBytes } = message.scan;
      const scanned = scanForEngine(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), maxLineBytes);
      port.postMessage({ seq: message.seq, scanned: { scanned, bytes } }, [bytes.buffer, ...('rowRecords' in scanned ? [scanned.rowRecords.buffer] : [])]);
      return;
    }
    if (!message.request) throw new Error('a message with nothing to do');
    const parsed = parseRecords(message.request);
    port.postMessage({ seq: message.seq, parsed }, parsedBuffers(parsed));
  } catch (err) {
    // A bug, not bad input (bad input is a reject): the caller stops.
    port.postMessage({ seq: message.seq, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  }
});

/** A unit of message values: scanned for the engine when it may take them, parsed here otherwise. */
function readMessages(request: MessagesRequest): ReadMessages {
  const { bytes, lengths, maxRecordBytes } = request;
  if (request.engine) {
    const scanned = scanMessagesForEngine(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), lengths, maxRecordBytes);
    if (!('refused' in scanned)) return { bytes, scanned };
  }
  const parsed = parseRecords({ ...request, mode: 'messages', lineEnds: true });
  // The bytes go back only for the dead letters of rejects: otherwise nobody needs them any more.
  return { bytes: parsed.rejects.length > 0 ? bytes : new Uint8Array(0), parsed };
}

function parsedBuffers(parsed: ParsedRecords): ArrayBuffer[] {
  return [parsed.rows.buffer, parsed.idHashes.buffer, parsed.rowEnds.buffer, parsed.rowRecords.buffer, parsed.hours.buffer];
}
