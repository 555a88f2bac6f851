/**
 * Rate cards as text and JSON: a change as `pricing set` reports it, the cards
 * in effect and their history as `pricing list` prints them.
 */
import { formatScaled } from '../util/decimal.js';
import { formatDateTime, HOUR_MS } from '../util/time.js';
import { cardSegments } from './card-timeline.js';
import type { CardChange, SetResult } from './pricing.js';
import { describeCard, type RateCard } from './rate-card.js';

const hourText = (ms: number): string => `${formatDateTime(ms).slice(0, 16).replace(' ', 'T')}Z`;

const validity = (c: RateCard): string => `from ${hourText(c.validFrom)}${c.validTo === null ? '' : ` to ${hourText(c.validTo)}`}`;

/** A card version as JSON: amounts as decimal text, instants as ISO. */
export function cardJson(c: CardChange): Record<string, unknown> {
  return {
    change_id: c.changeId, changed_at: c.changedAt, changed_by: c.changedBy, reason: c.reason, pool: c.pool,
    from: new Date(c.validFrom).toISOString(), to: c.validTo === null ? null : new Date(c.validTo).toISOString(),
    price_unit: c.priceUnit, price: formatScaled(c.price), currency: c.currency, gpus: c.gpus,
    instances: c.instances, gpus_per_instance: c.gpusPerInstance, gpu_type: c.gpuType,
    mig_profile: c.migProfile, mig_slices: c.migSlices, time_sliced: c.timeSliced,
    capacity_gpus: formatScaled(c.capacity), hourly_cost: formatScaled(c.hourlyCost),
    card: describeCard(c), replaced: c.replaced, replaced_text: c.replacedText,
    restated_hours: c.restatedHours, restated_cost: formatScaled(c.restatedCost), restated_months: c.restatedMonths,
  };
}

/** What `pricing set` or `pricing end` did, as lines of text and as JSON. */
export function changeSummary(result: SetResult): Record<string, unknown> & { text: string[] } {
  const c = result.change;
  const sign = c.restatedCost > 0n ? '+' : '';
  const text = [
    `pool ${c.pool}: ${describeCard(c)}, ${validity(c)} (version ${c.changedAt}, by ${c.changedBy}${c.reason === '' ? '' : `: ${c.reason}`})`,
    `  replaced: ${c.replacedText}`,
    `  restated: ${c.restatedHours} hours, ${sign}${formatScaled(c.restatedCost)} ${c.currency}`
      + (result.months.length > 0 ? `; months rewritten: ${result.months.join(', ')} (${result.lines} lines)` : '; no billed hour yet (lines come as the hours do)'),
  ];
  return { ...cardJson(c), months_written: result.months, lines_written: result.lines, text };
}

/** The cards in effect (or every version, with history), as lines of text. */
export function cardLines(cards: readonly CardChange[], history: boolean, now: number): string[] {
  const out: string[] = [];
  const pools = [...new Set(cards.map((c) => c.pool))].sort();
  for (const pool of pools) {
    const poolCards = cards.filter((c) => c.pool === pool);
    out.push(`pool ${pool}`);
    if (history) {
      for (const c of poolCards) {
        out.push(`  ${c.changedAt.slice(0, 19)} by ${c.changedBy}: ${describeCard(c)}, ${validity(c)}${c.reason === '' ? '' : ` — ${c.reason}`}`);
        out.push(`    replaced: ${c.replacedText}`);
        out.push(`    restated: ${c.restatedHours} hours, ${formatScaled(c.restatedCost)} ${c.currency}${c.restatedMonths.length > 0 ? ` (${c.restatedMonths.join(', ')})` : ''}`);
      }
      continue;
    }
    const last = Math.max(now, ...poolCards.flatMap((c) => [c.validFrom, c.validTo ?? 0])) + HOUR_MS;
    const segments = cardSegments(poolCards, Math.min(...poolCards.map((c) => c.validFrom)), last);
    // Adjacent segments held by one version read as one.
    const merged = segments.reduce<typeof segments>((acc, s) => {
      const prev = acc[acc.length - 1];
      if (prev && prev.card === s.card && prev.to === s.from) prev.to = s.to;
      else acc.push({ ...s });
      return acc;
    }, []);
    for (const s of merged) {
      if (!s.card || s.card.priceUnit === 'none') continue;
      const open = s.to === last && s.card.validTo === null;
      out.push(`  ${hourText(s.from)} .. ${open ? '' : hourText(s.to)}  ${describeCard(s.card)}  (set ${s.card.changedAt.slice(0, 19)} by ${s.card.changedBy})`);
    }
  }
  return out;
}
