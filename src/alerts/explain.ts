/**
 * Alerts as people read them: the one-paragraph explanation stored with the
 * alert and sent to Slack. Pure formatting.
 */
import type { Decomposition, Factor, FactorName, Metric } from './decompose.js';

/** What the numbers alone do not say: which version, which pool, what utilisation. */
export interface FactorContext {
  /** e.g. "since model_version v8 (100% of requests, was 0%)" */
  versionNote?: string | undefined;
  /** Utilisation of the key's pools (GPU-ms weighted), baseline and observed, 0..1. */
  utilisation?: { before: number; after: number } | undefined;
  /** What the key's used GPU time cost per GPU-hour (used cost / GPU-ms, weighted by the baseline's GPU-ms): what the price factor moves. */
  pricePerGpuHour?: { before: number; after: number } | undefined;
  /** The billed price per GPU-hour of capacity of the key's pools (same weights); said beside the above when they differ. */
  poolPricePerGpuHour?: { before: number; after: number } | undefined;
  /** e.g. "llm-b 70% of requests, was 10%" */
  mixNote?: string | undefined;
}

export const FACTOR_LABEL: Record<FactorName, string> = {
  price: 'price per GPU-hour',
  idle: '1 / utilisation (idle)',
  gpu_ms_per_request: 'GPU-ms per request',
  mix: 'traffic mix (pools, weight basis)',
};
const METRIC_LABEL: Record<Metric, string> = { loaded: 'fully loaded CPP', used: 'used CPP' };

export function pct(ratio: number): string {
  const p = (ratio - 1) * 100;
  const text = Math.abs(p) >= 10 ? p.toFixed(0) : p.toFixed(1);
  return `${p >= 0 ? '+' : ''}${text === '-0' || text === '-0.0' ? text.slice(1) : text}%`;
}

export function money(amount: number, currency: string, signed = false): string {
  // Under half a cent a day is noise to a person: shown as 0.
  const abs = Math.abs(amount) < 0.005 && signed ? 0 : Math.abs(amount);
  const sign = abs === 0 ? (signed ? '+' : '') : amount < 0 ? '-' : signed ? '+' : '';
  const digits = abs >= 100 ? 0 : abs >= 1 ? 2 : abs === 0 ? 2 : Math.min(8, Math.max(2, 1 - Math.floor(Math.log10(abs)) + 2));
  const symbol = currency === 'USD' ? '$' : '';
  return `${sign}${symbol}${abs.toFixed(digits)}${symbol ? '' : ` ${currency}`}`;
}

function factorNote(f: Factor, ctx: FactorContext, currency: string): string {
  let note = '';
  if (f.name === 'gpu_ms_per_request' && ctx.versionNote) note = ` ${ctx.versionNote}`;
  if (f.name === 'idle' && ctx.utilisation) note = ` (utilisation ${percent(ctx.utilisation.before)} -> ${percent(ctx.utilisation.after)})`;
  if (f.name === 'price' && ctx.pricePerGpuHour) note = ` (${priceNote(ctx.pricePerGpuHour, ctx.poolPricePerGpuHour, currency)})`;
  if (f.name === 'mix' && ctx.mixNote) note = ` ${ctx.mixNote}`;
  return `${FACTOR_LABEL[f.name]} ${pct(f.ratio)}${note}: ${money(f.perDay, currency, true)}/day`;
}

/**
 * "$6.20 -> $5.70 per GPU-hour used; billed $6.20 -> $6.20 per GPU-hour": the
 * billed price is said only when it moved differently (by a point or more),
 * e.g. when traffic beyond the capacity billed made each used GPU-hour cheaper.
 */
function priceNote(paid: { before: number; after: number }, billed: { before: number; after: number } | undefined, currency: string): string {
  const text = `${money(paid.before, currency)} -> ${money(paid.after, currency)} per GPU-hour used`;
  if (!billed || !(paid.before > 0) || !(billed.before > 0)) return text;
  const apart = Math.abs(paid.after / paid.before - billed.after / billed.before) >= 0.01;
  return apart ? `${text}; billed ${money(billed.before, currency)} -> ${money(billed.after, currency)} per GPU-hour` : text;
}

export function percent(x: number): string {
  return `${Math.round(x * 100)}%`;
}

export interface AlertText {
  keyLabel: string;
  currency: string;
  day: string;
  baselineDay: string;
  baselineDays: number;
  fired: Decomposition;
  other: Decomposition;
  /** True when the other metric stayed under the threshold. */
  otherQuiet: boolean;
  ctx: FactorContext;
  estimated: boolean;
  /** Hours of `day` judged, from 00:00 UTC: 24 for a complete day; fewer while the day is not complete (money per day is then at the day's pace). */
  hours: number;
}

/** "2026-11-20", or "2026-12-02 00:00-14:00 UTC (so far)" for the first hours of a day not complete yet. */
export function windowLabel(day: string, hours: number): string {
  return hours >= 24 ? day : `${day} 00:00-${String(hours).padStart(2, '0')}:00 UTC (so far)`;
}

/** The explanation: what moved, by how much, and why, factor by factor. */
export function explain(t: AlertText): string {
  const { fired, other, ctx, currency } = t;
  const rel = fired.observedCpp / fired.baselineCpp;
  const perDay = fired.factors.reduce((a, f) => a + f.perDay, 0);
  const dominant = fired.factors.find((f) => f.name === fired.dominant);
  const lines = [
    `${t.keyLabel}: ${METRIC_LABEL[fired.metric]} ${pct(rel)} on ${windowLabel(t.day, t.hours)} (${money(fired.baselineCpp, currency)} -> ${money(fired.observedCpp, currency)} per prediction; ` +
      `baseline ${t.baselineDay}${t.hours >= 24 ? '' : ', the same hours'}, median of ${t.baselineDays} comparable days), ${money(perDay, currency, true)}/day` +
      `${t.hours >= 24 ? '' : ' at the day\'s pace'}${t.estimated ? ' (billing still estimated)' : ''}`,
  ];
  if (dominant) lines.push(`Why: ${factorNote(dominant, ctx, currency)}`);
  const rest = fired.factors.filter((f) => f.name !== fired.dominant && (fired.metric === 'loaded' || f.name !== 'idle'));
  lines.push(`Other factors: ${rest.map((f) => factorNote(f, ctx, currency)).join('; ')}`);
  const otherRel = other.baselineCpp > 0 ? other.observedCpp / other.baselineCpp : 1;
  // Idle absorbed it when used CPP rose and fully loaded CPP stayed quiet (not on a resolve, where neither moved).
  if (fired.metric === 'used' && t.otherQuiet && rel - otherRel >= 0.1) {
    const util = ctx.utilisation ? `: utilisation ${percent(ctx.utilisation.before)} -> ${percent(ctx.utilisation.after)}` : '';
    lines.push(`Fully loaded CPP ${pct(otherRel)}: absorbed by idle headroom${util}. It will show in the bill when capacity is added.`);
  } else {
    lines.push(`${METRIC_LABEL[other.metric][0]?.toUpperCase() ?? ''}${METRIC_LABEL[other.metric].slice(1)} ${pct(otherRel)}.`);
  }
  return lines.join('\n');
}
