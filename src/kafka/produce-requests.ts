/**
 * `inferledger produce requests`: NDJSON request events onto the topic, one
 * message per line, as a serving system would emit them. Lines are sent as
 * they are (valid or not: judging them is the collector's job), keyed by
 * request_id so a request's redeliveries share a partition.
 */
import { openText, readLines } from '../files/line-reader.js';
import type { OutgoingMessage, StreamProducer } from './stream.js';

export interface ProduceSummary {
  files: number;
  messages: number;
  bytes: number;
  /** Lines that could not be read as text (e.g. not UTF-8, longer than the limit); not sent. */
  unreadable: number;
}

export interface ProduceOptions {
  /** Messages per send (one produce request, acknowledged by all in-sync replicas). */
  messagesPerSend?: number;
  /** Lines longer than this are not sent. Default 16 MiB, the broker's limit set by infra/kafka. */
  maxLineBytes?: number;
}

/** A cheap look at the id without parsing the line; producers send many. */
const REQUEST_ID = /"request_id"\s*:\s*"((?:[^"\\]|\\.){1,256})"/;

export function messageKey(line: string): string | null {
  const escaped = REQUEST_ID.exec(line)?.[1];
  if (escaped === undefined) return null;
  try {
    return JSON.parse(`"${escaped}"`) as string;
  } catch {
    return null;
  }
}

export async function produceRequestFiles(producer: StreamProducer, topic: string, files: readonly string[], options: ProduceOptions = {}): Promise<ProduceSummary> {
  const perSend = options.messagesPerSend ?? 2000;
  const summary: ProduceSummary = { files: 0, messages: 0, bytes: 0, unreadable: 0 };
  let pending: OutgoingMessage[] = [];
  // One send in flight while the next chunk is read.
  let inFlight: Promise<void> = Promise.resolve();
  const flush = async (): Promise<void> => {
    const chunk = pending;
    pending = [];
    await inFlight;
    inFlight = producer.send(topic, chunk);
  };
  for (const file of files) {
    summary.files++;
    for await (const lines of readLines(await openText(file), options.maxLineBytes ?? 16 * 1024 * 1024)) {
      for (const line of lines) {
        if (line.text === undefined) {
          summary.unreadable++;
          continue;
        }
        pending.push({ key: messageKey(line.text), value: line.text });
        summary.messages++;
        summary.bytes += Buffer.byteLength(line.text);
        if (pending.length >= perSend) await flush();
      }
    }
  }
  await flush();
  await inFlight;
  return summary;
}
