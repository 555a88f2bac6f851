/**
 * Realistic request events for benchmarks, written as NDJSON without holding
 * the file in memory: ~350 bytes an event, like real request events.
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { DAY_MS } from '../../src/util/time.js';

const MODELS = [
  { model: 'llama-3-70b', version: 'v3', feature: 'chat', pool: 'llm-h100', gpu: 'H100', gpuMs: 900 },
  { model: 'bge-large', version: 'v1', feature: 'search', pool: 'embed-l4', gpu: 'L4', gpuMs: 12 },
  { model: 'toxicity-bert', version: 'v7', feature: 'moderation', pool: 'clf-t4', gpu: 'T4', gpuMs: 4 },
] as const;

/** Write `count` events spread over one day starting at `dayStartMs`. */
export async function writeSyntheticRequests(path: string, count: number, dayStartMs = Date.UTC(2026, 9, 1)): Promise<number> {
  const out = createWriteStream(path, { highWaterMark: 1 << 20 });
  let bytes = 0;
  let chunk = '';
  for (let i = 0; i < count; i++) {
    const m = MODELS[i % 3] ?? MODELS[0];
    const ts = dayStartMs + Math.floor((i / count) * DAY_MS);
    chunk += `${JSON.stringify({
      request_id: `bench-${i.toString(36).padStart(8, '0')}-${(i * 2654435761) % 1e9}`,
      ts: new Date(ts).toISOString(),
      model_id: m.model,
      model_version: m.version,
      feature_id: m.feature,
      tenant_id: `tenant-${(i * 7919) % 500}`,
      team: 'ml-platform',
      pool_id: m.pool,
      instance_id: `i-0${(i % 16).toString(16)}a1b2c3d4e5f6`,
      region: 'us-east-1',
      gpu_type: m.gpu,
      gpu_ms: m.gpuMs + (i % 100) / 10,
      input_tokens: 100 + (i % 900),
      output_tokens: i % 3 === 0 ? 50 + (i % 400) : 0,
      latency_ms: m.gpuMs * 1.3,
      status: i % 100 === 0 ? 'error' : 'ok',
    })}\n`;
    if (chunk.length > 1 << 20) {
      bytes += chunk.length;
      if (!out.write(chunk)) await once(out, 'drain');
      chunk = '';
    }
  }
  bytes += chunk.length;
  out.end(chunk);
  await once(out, 'finish');
  return bytes;
}
