/**
 * Once before all tests: build dist/ (the CLI tests run the installed binary)
 * and start a private Kafka broker on a free port, unless KAFKA_BROKERS names
 * one. Test files reach it through `inject('kafkaBrokers')`.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { freePort } from './helpers/ports.js';

declare module 'vitest' {
  export interface ProvidedContext {
    kafkaBrokers: string;
  }
}

const BROKER = fileURLToPath(new URL('../infra/kafka/broker.sh', import.meta.url));

export default async function setup(project: TestProject): Promise<() => void> {
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
  const given = process.env['KAFKA_BROKERS'];
  if (given) {
    project.provide('kafkaBrokers', given);
    return () => undefined;
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'inferledger-kafka-'));
  const env = { ...process.env, KAFKA_PORT: String(await freePort()), KAFKA_DATA_DIR: dataDir };
  const out = execFileSync('bash', [BROKER, 'start'], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const address = out.trim().split('\n').at(-1) ?? '';
  project.provide('kafkaBrokers', address);
  return () => {
    execFileSync('bash', [BROKER, 'stop'], { env, stdio: 'inherit' });
    rmSync(dataDir, { recursive: true, force: true });
  };
}
