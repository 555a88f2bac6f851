/**
 * `inferledger produce requests` on the real broker: to a topic that does not
 * exist it says which topic is missing and how to create it, without sending
 * anything (and without the client's minute of metadata retries); after
 * `inferledger kafka setup` the same command sends every line. The collector
 * says the same about a missing topic before it starts.
 */
import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import { EXIT, main } from '../src/cli/main.js';
import { event, ndjson, tempDir, writeTemp } from './helpers/files.js';
import { brokers, readTopic, withAdmin } from './helpers/kafka.js';

async function cli(args: string[], env: Record<string, string>): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { out: (l) => out.push(l), err: (l) => err.push(l), env });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

it('names a missing topic and the command that creates it, then produces once it exists', async () => {
  const topic = `missing-${randomUUID().slice(0, 8)}`;
  const file = writeTemp(tempDir(), 'requests.ndjson', ndjson([event({ request_id: 'p-1' }), event({ request_id: 'p-2' })]));
  const env = { KAFKA_BROKERS: brokers().join(','), KAFKA_TOPIC: topic };

  const missing = await cli(['produce', 'requests', file], env);
  expect(missing.code).toBe(EXIT.failed);
  expect(missing.err).toContain(`topic "${topic}" does not exist on ${brokers().join(',')}`);
  expect(missing.err).toContain(`inferledger kafka setup --topic ${topic}`);
  expect(missing.err).not.toMatch(/does not host this topic-partition/);
  expect(await withAdmin((admin) => admin.topicExists(topic))).toBe(false);
  const collect = await cli(['collect', 'requests', '--once', '--data-dir', tempDir()], env);
  expect(collect.code).toBe(EXIT.failed);
  expect(collect.err).toContain(`topic "${topic}" does not exist`);

  expect(await cli(['kafka', 'setup', '--partitions', '2'], env)).toMatchObject({ code: EXIT.ok, out: `created ${topic}, ${topic}.dlq` });
  const sent = await cli(['produce', 'requests', file], env);
  expect(sent).toMatchObject({ code: EXIT.ok });
  expect(sent.out).toContain(`${topic}: 2 messages`);
  expect((await readTopic(topic)).map((m) => m.key).sort()).toEqual(['p-1', 'p-2']);
});
