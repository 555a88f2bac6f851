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
 *
 * One more pool is on premises (8 A100-80GB serving trust-safety's fine-tuned
 * 70B policy model, ~ $0.09 per prediction): no cloud bills it, so it is in
 * the traffic and not in the FOCUS bill; the demo prices it with a rate card
 * (demoRateCards), repriced mid-month. Its events come from a generator of
 * their own, so the cloud pools' events are the same with or without it.
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { createGzip } from 'node:zlib';
import { stringify } from 'csv-stringify/sync';
import { seededRandom } from '../util/random.js';
import type { RateCardInput } from '../pricing/rate-card.js';
import { DAY_MS, formatDate, HOUR_MS } from '../util/time.js';

/** A pool's traffic, as its request events give it. */
export interface DemoTraffic {
  pool: string;
  model: string;
  features: readonly string[];
  /** Requests per hour at the daily peak. */
  peakPerHour: number;
  /** GPU time per request, summed over the GPUs it runs on. */
  gpuMs: number;
  /** GPUs one request runs on at once (tensor parallel): its latency is its GPU time over them. Default 1. */
  gpusPerRequest?: number;
  inputTokens: number;
  outputTokens: number;
}

/** A cloud pool: one instance, an hourly line of the FOCUS bill. */
export interface DemoPool extends DemoTraffic {
  instanceType: string;
  provider: string;
  listPerHour: string;
  effectivePerHour: string;
}

/** A pool on premises: no bill, a rate card prices its GPUs. */
export interface DemoOnPremPool extends DemoTraffic {
  gpuType: string;
  gpus: number;
}

export const DEMO_POOLS: readonly DemoPool[] = [
  { pool: 'llm-h100', model: 'llama-3-8b', features: ['chat', 'summarize'], instanceType: 'a3-highgpu-1g', provider: 'Google Cloud', listPerHour: '11.06', effectivePerHour: '6.2', peakPerHour: 1300, gpuMs: 2400, inputTokens: 1400, outputTokens: 380 },
  { pool: 'embed-l4', model: 'bge-large', features: ['search', 'rag-retrieval'], instanceType: 'g6.xlarge', provider: 'AWS', listPerHour: '0.8048', effectivePerHour: '0.2414', peakPerHour: 3000, gpuMs: 900, inputTokens: 7000, outputTokens: 0 },
  { pool: 'clf-t4', model: 'toxicity-bert', features: ['moderation', 'comment-filter'], instanceType: 'g4dn.xlarge', provider: 'AWS', listPerHour: '0.526', effectivePerHour: '0.1578', peakPerHour: 5000, gpuMs: 500, inputTokens: 0, outputTokens: 0 },
];

export const DEMO_ONPREM_POOL: DemoOnPremPool = {
  pool: 'onprem-a100', model: 'policy-llama-70b', features: ['appeal-review', 'escalation-summary'], gpuType: 'A100-80GB', gpus: 8,
  peakPerHour: 500, gpuMs: 48_000, gpusPerRequest: 8, inputTokens: 6000, outputTokens: 700,
};

export const DEMO_TEAMS: Readonly<Record<string, string>> = {
  chat: 'assistant', summarize: 'assistant', search: 'search', 'rag-retrieval': 'search', moderation: 'trust-safety', 'comment-filter': 'trust-safety',
  'appeal-review': 'trust-safety', 'escalation-summary': 'trust-safety',
};

/** Day (0-based) of the month from which the on-premises pool is repriced. */
const DEMO_REPRICE_DAY = 14;

/**
 * The on-premises pool's rate card, as `inferledger pricing set` takes it:
 * the internal price list from the month's start, then a lower price from the
 * 15th, each with its reason. Open-ended, as a real pool's card is.
 */
export function demoRateCards(window: DemoWindow): RateCardInput[] {
  const pool = DEMO_ONPREM_POOL;
  const card = { pool: pool.pool, currency: 'USD', gpus: pool.gpus, gpuType: pool.gpuType };
  const year = new Date(window.start).getUTCFullYear();
  // Both end with the demo's month: its lines stay inside the window the demo attributes and reports.
  const to = formatDate(window.start + window.days * DAY_MS);
  return [
    { ...card, perGpuHour: '2.10', from: formatDate(window.start), to, reason: `internal price list ${year}` },
    { ...card, perGpuHour: '1.85', from: formatDate(window.start + DEMO_REPRICE_DAY * DAY_MS), to, reason: 'power contract renegotiated' },
  ];
}

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

/** A pool's constant event fields, serialised once: JSON.stringify of 2.2M event objects was most of the demo's writing time. */
interface EventText {
  id: string;
  model: string;
  features: string[];
  pool: string;
}

function eventText(pool: DemoTraffic, gpuType: string): EventText {
  return {
    id: JSON.stringify(`demo-${pool.pool}-`).slice(0, -1),
    model: `,"model_id":${JSON.stringify(pool.model)},"model_version":`,
    features: pool.features.map((f) => `,"feature_id":${JSON.stringify(f)},"tenant_id":"tenant-`),
    pool: `,"pool_id":${JSON.stringify(pool.pool)},"gpu_type":${JSON.stringify(gpuType)},"gpu_ms":`,
  };
}

/** A pool's events of hour `h` as NDJSON lines, drawn from `random` (the same draws in the same order, whatever else the file holds). */
function hourEvents(pool: DemoTraffic, text: EventText, random: () => number, h: number, window: DemoWindow): { lines: string; count: number } {
  const hourStart = window.start + h * HOUR_MS;
  const day = Math.floor(h / 24);
  const gpus = pool.gpusPerRequest ?? 1;
  let lines = '';
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
    lines += `{"request_id":${text.id}${h}-${i}","ts":${ts}${text.model}${version}${feature}${String(tenant).padStart(3, '0')}"${text.pool}${gpuMs},"input_tokens":${Math.round(pool.inputTokens * jitter)},"output_tokens":${Math.round(pool.outputTokens * jitter)},"latency_ms":${Math.round((pool.gpuMs / gpus) * jitter * 1.3)}}\n`;
  }
  return { lines, count: n };
}

/** Write the month's request events as gzip NDJSON; returns how many. */
export async function writeDemoRequests(path: string, window: DemoWindow): Promise<number> {
  const random = seededRandom(7);
  // The on-premises pool draws from its own generator: the cloud pools' events do not depend on it.
  const onPremRandom = seededRandom(11);
  const gzip = createGzip({ level: 1 });
  const out = createWriteStream(path);
  gzip.pipe(out);
  let count = 0;
  let chunk = '';
  const cloud = DEMO_POOLS.map((pool) => ({ pool, text: eventText(pool, pool.instanceType) }));
  const onPrem = eventText(DEMO_ONPREM_POOL, DEMO_ONPREM_POOL.gpuType);
  for (let h = 0; h < window.days * 24; h++) {
    for (const { pool, text } of cloud) {
      const events = hourEvents(pool, text, random, h, window);
      chunk += events.lines;
      count += events.count;
    }
    const events = hourEvents(DEMO_ONPREM_POOL, onPrem, onPremRandom, h, window);
    chunk += events.lines;
    count += events.count;
    if (chunk.length > 1 << 20) {
      if (!gzip.write(chunk)) await once(gzip, 'drain');
      chunk = '';
    }
  }
  gzip.end(chunk);
  await once(out, 'finish');
  return count;
}

/** Write the month's bill as a FOCUS CSV: an hourly line per cloud pool (not the on-premises one), and untagged storage per day. */
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
