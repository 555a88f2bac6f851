/**
 * A Kafka broker of one's own (infra/kafka/broker.sh) on a free port with a
 * temporary data directory: for the test run (global-setup), a test that
 * stops and restarts its broker, and the benchmarks.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.js';

const BROKER_SH = fileURLToPath(new URL('../../infra/kafka/broker.sh', import.meta.url));

export interface PrivateBroker {
  /** Bootstrap address, host:port; the same across restarts. */
  readonly address: string;
  /** Start again after `stop` (same port and data). */
  start(): void;
  stop(): void;
  /** Stop and delete its data. */
  dispose(): void;
}

export async function startPrivateBroker(): Promise<PrivateBroker> {
  const dataDir = mkdtempSync(join(tmpdir(), 'inferledger-kafka-'));
  const env = { ...process.env, KAFKA_PORT: String(await freePort()), KAFKA_DATA_DIR: dataDir };
  const run = (command: 'start' | 'stop'): string =>
    execFileSync('bash', [BROKER_SH, command], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').at(-1) ?? '';
  const address = run('start');
  return {
    address,
    start: () => { run('start'); },
    stop: () => { run('stop'); },
    dispose: () => {
      run('stop');
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
