/**
 * The collector as a process: metrics endpoint, signals, `--once`. The
 * consuming itself is {@link RequestCollector}; this only starts it, waits
 * for a reason to stop (SIGTERM/SIGINT, caught up in `--once`, or a crash),
 * and stops it in order: stop consuming, drain, flush, commit, close.
 */
import type { Server } from 'node:http';
import type { Config } from '../config/config.js';
import type { StreamClient } from '../kafka/stream.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { serveMetrics } from './collector-metrics.js';
import { RequestCollector, type CollectorOptions, type CollectorStats } from './request-collector.js';

export interface RunCollectorOptions {
  /** Stop once the group has caught up with the partition ends seen at start. */
  once: boolean;
  log: (line: string) => void;
}

export interface CollectorRun {
  stats: CollectorStats;
  /** True when everything taken was written and committed and nothing crashed. */
  clean: boolean;
  reason: string;
}

/** The collector's settings in a config: the Kafka section, and what request ingestion shares with files. */
export function collectorOptionsOf(config: Config): CollectorOptions {
  const { ingest } = config;
  return { ...config.kafka, parserThreads: ingest.parserThreads, duplicateHorizonHours: ingest.duplicateHorizonHours, engineUnits: ingest.engineUnitBytes > 0 };
}

export async function runCollector(config: Config, warehouse: Warehouse, client: StreamClient, options: RunCollectorOptions): Promise<CollectorRun> {
  const collector = new RequestCollector(collectorOptionsOf(config), { warehouse, client, log: options.log });
  let metricsServer: Server | undefined;
  const { collectorMetricsPort, collectorMetricsHost } = config.service;
  if (collectorMetricsPort !== undefined) {
    const served = await serveMetrics(collector.metrics, () => collector.health(), collectorMetricsPort, collectorMetricsHost);
    metricsServer = served.server;
    options.log(`collector: metrics at ${served.url}/metrics, health at ${served.url}/healthz`);
  }
  const waits = [processSignal(), collector.whenCrashed.then((err) => `consumer crashed: ${err.message}`)];
  let reason: string;
  try {
    await collector.start();
    if (options.once) waits.push(collector.caughtUp().then(() => 'caught up with the topic'));
    reason = await Promise.race(waits);
  } catch (err) {
    reason = `failed: ${(err as Error).message}`;
  }
  options.log(`collector: stopping (${reason})`);
  const drained = await collector.stop();
  metricsServer?.close();
  return { stats: collector.stats, clean: drained && !collector.failure && !reason.startsWith('failed'), reason };
}

function processSignal(): Promise<string> {
  return new Promise((resolve) => {
    process.once('SIGTERM', () => { resolve('SIGTERM'); });
    process.once('SIGINT', () => { resolve('SIGINT'); });
  });
}
