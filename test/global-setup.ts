/**
 * Once before all tests: build dist/ (the CLI tests run the installed binary)
 * and start a private Kafka broker on a free port, unless KAFKA_BROKERS names
 * one. Test files reach it through `inject('kafkaBrokers')`.
 */
import { execFileSync } from 'node:child_process';
import type { TestProject } from 'vitest/node';
import { startPrivateBroker } from './helpers/broker.js';

declare module 'vitest' {
  export interface ProvidedContext {
    kafkaBrokers: string;
  }
}

export default async function setup(project: TestProject): Promise<() => void> {
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
  const given = process.env['KAFKA_BROKERS'];
  if (given) {
    project.provide('kafkaBrokers', given);
    return () => undefined;
  }
  const broker = await startPrivateBroker();
  project.provide('kafkaBrokers', broker.address);
  return () => { broker.dispose(); };
}
