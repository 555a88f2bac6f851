import { mkdtempSync, rmSync } from 'node:fs';
import { RequestCollector } from '../src/collector/request-collector.js';
import { configSchema } from '../src/config/config.js';
import { kafkajsClient } from '../src/kafka/kafkajs-client.js';
import { benchWarehouse } from '../bench/lib/insert-bound.js';
const dir = mkdtempSync('/tmp/kbw.');
const warehouse = await benchWarehouse(dir);
const totals = new Map<string, { n: number; ms: number }>();
const wrap = (name: 'command' | 'queryBytes' | 'insertCompact' | 'query' | 'queryWithTable') => {
  const w = warehouse as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
  const orig = w[name]!.bind(warehouse);
  w[name] = async (...a: unknown[]) => {
    const t = performance.now();
    try { return await orig(...a); } finally {
      const sql = typeof a[0] === 'string' ? (a[0].split('\n').find((l) => !l.startsWith('--')) ?? '').slice(0, 50) : name;
      const k = `${name}: ${sql}`;
      const e = totals.get(k) ?? { n: 0, ms: 0 };
      e.n++; e.ms += performance.now() - t; totals.set(k, e);
    }
  };
};
for (const n of ['command', 'queryBytes', 'insertCompact', 'query', 'queryWithTable'] as const) wrap(n);
const kafka = configSchema.shape.kafka.parse({});
const tuned = JSON.parse(process.env['BENCH_KAFKA'] ?? '{}');
const client = kafkajsClient({ brokers: ['127.0.0.1:19092'], clientId: 'bench', log: () => undefined });
const collector = new RequestCollector({ ...kafka, ...tuned, topic: 'perf', groupId: `g-${Date.now()}` }, { warehouse, client, log: () => undefined });
await collector.start();
let t0 = 0; let c0 = process.cpuUsage();
const watch = setInterval(() => { if (t0 === 0 && collector.stats.messages > 0) { t0 = performance.now(); c0 = process.cpuUsage(); } }, 5);
await collector.caughtUp(50);
const secs = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(c0);
clearInterval(watch);
await collector.stop();
await warehouse.close();
rmSync(dir, { recursive: true, force: true });
console.log(`${collector.stats.messages} events ${secs.toFixed(2)} s = ${Math.round(collector.stats.messages / secs)}/s; cpu ${((cpu.user + cpu.system) / collector.stats.messages).toFixed(1)} µs/event; rss ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`);
for (const [k, v] of [...totals].sort((a, b) => b[1].ms - a[1].ms)) console.log(`${v.ms.toFixed(0).padStart(7)} ms ${String(v.n).padStart(5)}x  ${k}`);
