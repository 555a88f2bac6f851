/**
 * A realistic month of inference traffic and its GPU bill, for `inferledger
 * demo`. Written as the files real sources give (NDJSON request events, a
 * FOCUS 1.x CSV export) so the demo runs the same ingestion and attribution
 * as production. Deterministic: seeded.
 *
 * Calibration (fully loaded, the month's effective cost / the month's traffic):
 * - toxicity-bert on one T4 (g4dn.xlarge, spot)            ~ $0.00009 per prediction
 * - bge-large embeddings on one L4 (g6.xlarge, spot)         ~ $0.0002 per prediction
 * - llama-3-8b on one H100 (a3-highgpu-1g, committed use)    ~ $0.008 per 1K tokens
 * within the ranges published for optimised serving. Pools run at realistic
 * utilisation (month average ~25-30 %, busiest hours ~70-95 %): embedding
 * requests each embed a batch of ~20 passages (900 GPU-ms) and moderation
 * requests classify a batch of comments (500 GPU-ms). Traffic follows a daily
 * cycle with quiet nights (idle cost shows), tenants a long tail, and on one
 * day half the LLM traffic moves to a v4 build that doubles GPU time per
 * request: its CPP that day is about twice v3's.
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { createGzip } from 'node:zlib';
import { stringify } from 'csv-stringify/sync';
import { seededRandom } from '../util/random.js';
import { HOUR_MS } from '../util/time.js';

export interface DemoPool {
  pool: string;
  model: string;
  features: readonly string[];
  instanceType: string;
  provider: string;
  listPerHour: string;
  effectivePerHour: string;
  /** Requests per hour at the daily peak. */
  peakPerHour: number;
  gpuMs: number;
  inputTokens: number;
  outputTokens: number;
}

export const DEMO_POOLS: readonly DemoPool[] = [
  { pool: 'llm-h100', model: 'llama-3-8b', features: ['chat', 'summarize'], instanceType: 'a3-highgpu-1g', provider: 'Google Cloud', listPerHour: '11.06', effectivePerHour: '6.2', peakPerHour: 1300, gpuMs: 2400, inputTokens: 1400, outputTokens: 380 },
  { pool: 'embed-l4', model: 'bge-large', features: ['search', 'rag-retrieval'], instanceType: 'g6.xlarge', provider: 'AWS', listPerHour: '0.8048', effectivePerHour: '0.2414', peakPerHour: 3000, gpuMs: 900, inputTokens: 7000, outputTokens: 0 },
  { pool: 'clf-t4', model: 'toxicity-bert', features: ['moderation', 'comment-filter'], instanceType: 'g4dn.xlarge', provider: 'AWS', listPerHour: '0.526', effectivePerHour: '0.1578', peakPerHour: 5000, gpuMs: 500, inputTokens: 0, outputTokens: 0 },
];

export const DEMO_TEAMS: Readonly<Record<string, string>> = {
  chat: 'assistant', summarize: 'assistant', search: 'search', 'rag-retrieval': 'search', moderation: 'trust-safety', 'comment-filter': 'trust-safety',
};

/** Share of the peak rate in a UTC hour: busy days, quiet nights. */
function dailyCycle(hour: number): number {
  return 0.08 + 0.92 * Math.max(0, Math.sin(((hour - 6) / 24) * 2 * Math.PI)) ** 1.5;
}

export interface DemoWindow {
  start: number;
  days: number;
  /** Day (0-based) on which half the LLM traffic runs the slow v4 build. */
  rolloutDay: number;
}

/** Write the month's request events as gzip NDJSON; returns how many. */
export async function writeDemoRequests(path: string, window: DemoWindow): Promise<number> {
  const random = seededRandom(7);
  const gzip = createGzip({ level: 1 });
  const out = createWriteStream(path);
  gzip.pipe(out);
  let count = 0;
  let chunk = '';
  // Each pool's constant fields, serialised once: JSON.stringify of 2.2M event objects was most of the demo's writing time.
  const fixed = DEMO_POOLS.map((pool) => ({
    id: JSON.stringify(`demo-${pool.pool}-`).slice(0, -1),
    model: `,"model_id":${JSON.stringify(pool.model)},"model_version":`,
    features: pool.features.map((f) => `,"feature_id":${JSON.stringify(f)},"tenant_id":"tenant-`),
    pool: `,"pool_id":${JSON.stringify(pool.pool)},"gpu_type":${JSON.stringify(pool.instanceType)},"gpu_ms":`,
  }));
  for (let h = 0; h < window.days * 24; h++) {
    const hourStart = window.start + h * HOUR_MS;
    const day = Math.floor(h / 24);
    DEMO_POOLS.forEach((pool, p) => {
      const text = fixed[p] as (typeof fixed)[number];
      const n = Math.round(pool.peakPerHour * dailyCycle(h % 24) * (0.9 + 0.2 * random()));
      for (let i = 0; i < n; i++) {
        const slow = pool.pool === 'llm-h100' && day === window.rolloutDay && random() < 0.5;
        const jitter = 0.6 + 0.8 * random();
        const tenant = Math.floor(random() ** 3 * 120);
        // Field order and number formatting as JSON.stringify writes them (test/demo.test.ts pins the resulting figures).
        const ts = hourStart + Math.floor(random() * HOUR_MS);
        const version = pool.pool === 'llm-h100' ? (slow ? '"v4"' : '"v3"') : '"v1"';
        const feature = text.features[random() < 0.7 ? 0 : 1] as string;
        const gpuMs = Math.round(pool.gpuMs * jitter * (slow ? 2 : 1) * 1000) / 1000;
        chunk += `{"request_id":${text.id}${h}-${i}","ts":${ts}${text.model}${version}${feature}${String(tenant).padStart(3, '0')}"${text.pool}${gpuMs},"input_tokens":${Math.round(pool.inputTokens * jitter)},"output_tokens":${Math.round(pool.outputTokens * jitter)},"latency_ms":${Math.round(pool.gpuMs * jitter * 1.3)}}\n`;
        count++;
      }
    });
    if (chunk.length > 1 << 20) {
      if (!gzip.write(chunk)) await once(gzip, 'drain');
      chunk = '';
    }
  }
  gzip.end(chunk);
  await once(out, 'finish');
  return count;
}

/** Write the month's bill as a FOCUS CSV: an hourly line per pool, and untagged storage per day. */
export async function writeDemoBill(path: string, window: DemoWindow): Promise<number> {
  const header = [
    'BillingAccountId', 'SubAccountId', 'ProviderName', 'ChargePeriodStart', 'ChargePeriodEnd', 'BilledCost', 'EffectiveCost', 'ListCost',
    'BillingCurrency', 'ConsumedQuantity', 'ConsumedUnit', 'ResourceId', 'ResourceType', 'x_InstanceType', 'ServiceName',
    'ChargeCategory', 'ChargeClass', 'SkuId', 'RegionId', 'Tags',
  ];
  const rows: string[][] = [header];
  const iso = (ms: number): string => new Date(ms).toISOString().replace('.000', '');
  for (let h = 0; h < window.days * 24; h++) {
    const start = window.start + h * HOUR_MS;
    for (const pool of DEMO_POOLS) {
      rows.push([
        'billing-001', 'ml-serving', pool.provider, iso(start), iso(start + HOUR_MS), pool.listPerHour, pool.effectivePerHour, pool.listPerHour,
        'USD', '1', 'Hours', `${pool.pool}-node-1`, 'Instance', pool.instanceType, 'Compute', 'Usage', '', `sku-${pool.instanceType}`, 'us-east1',
        JSON.stringify({ 'inference-pool': pool.pool, env: 'prod' }),
      ]);
    }
    if (h % 24 === 0) {
      // Model weights on block storage nobody tagged: unallocated, and shown.
      rows.push([
        'billing-001', 'ml-serving', 'AWS', iso(start), iso(start + 24 * HOUR_MS), '1.6', '1.6', '1.6',
        'USD', '20', 'GB-Mo', 'vol-weights', 'Volume', '', 'Block Storage', 'Usage', '', 'sku-gp3', 'us-east-1', '{}',
      ]);
    }
  }
  const out = createWriteStream(path);
  out.end(stringify(rows));
  await once(out, 'finish');
  return rows.length - 1;
}
