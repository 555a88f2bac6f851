/**
 * What the collector reports: Prometheus metrics (prom-client, a private
 * registry so several collectors in one process do not collide) and a health
 * check, both served over HTTP at /metrics and /healthz.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface Health {
  ok: boolean;
  /** Why it is not ok, or what it is doing. */
  detail: Record<string, unknown>;
}

export class CollectorMetrics {
  readonly registry = new Registry();
  readonly messages = new Counter({ name: 'inferledger_collector_messages_total', help: 'Kafka messages taken from the topic', registers: [this.registry] });
  readonly rowsWritten = new Counter({ name: 'inferledger_collector_rows_written_total', help: 'Request rows inserted into inference_requests', registers: [this.registry] });
  readonly duplicates = new Counter({ name: 'inferledger_collector_duplicates_total', help: 'Valid events skipped because their request_id was already stored', registers: [this.registry] });
  readonly deadLetters = new Counter({ name: 'inferledger_collector_dead_letters_total', help: 'Invalid messages sent to the dead-letter topic', registers: [this.registry] });
  readonly writeFailures = new Counter({ name: 'inferledger_collector_write_failures_total', help: 'Failed attempts to write a batch (warehouse or dead-letter topic); each is retried', registers: [this.registry] });
  readonly commits = new Counter({ name: 'inferledger_collector_commits_total', help: 'Offset commits after a batch was written', registers: [this.registry] });
  readonly insertSeconds = new Histogram({
    name: 'inferledger_collector_insert_seconds',
    help: 'Time to write one batch into the warehouse',
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly batchRows = new Histogram({
    name: 'inferledger_collector_batch_rows',
    help: 'Messages per written batch',
    buckets: [1, 10, 100, 1000, 5000, 10_000, 20_000, 50_000, 100_000],
    registers: [this.registry],
  });
  readonly paused = new Gauge({ name: 'inferledger_collector_paused', help: '1 while consumption is paused because writes fail', registers: [this.registry] });
  readonly lag: Gauge<'topic' | 'partition'>;

  /** `lagOf` is asked on each scrape: end offset minus the group's committed offset, per partition. */
  constructor(lagOf: () => Promise<{ topic: string; partition: number; lag: number }[]>) {
    this.lag = new Gauge({
      name: 'inferledger_collector_consumer_lag',
      help: "Messages in the partition after the group's committed offset",
      labelNames: ['topic', 'partition'],
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const row of await lagOf()) this.set({ topic: row.topic, partition: String(row.partition) }, row.lag);
      },
    });
  }
}

/**
 * Serve /metrics and /healthz on `host`:`port` (0: a free port); resolves with
 * the port and the URL it really listens on, for the log line.
 */
export async function serveMetrics(metrics: CollectorMetrics, health: () => Health, port: number, host = '127.0.0.1'): Promise<{ port: number; url: string; server: Server }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/metrics') {
      metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
        (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${String(err)}\n`),
      );
      return;
    }
    if (path === '/healthz') {
      const { ok, detail } = health();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(`${JSON.stringify({ status: ok ? 'ok' : 'stuck', ...detail })}\n`);
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics or /healthz\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => { resolve(); });
  });
  const address = server.address() as AddressInfo;
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return { port: address.port, url: `http://${shown}:${address.port}`, server };
}
