/**
 * A pool's card versions as hours: which version holds each hour (the newest
 * whose validity covers it), and what the hour costs. Pure: the billing lines
 * of a pool's month are computed here and only written elsewhere.
 *
 * A monthly price is spread over the month's hours exactly as the bill spreads
 * a monthly charge (bill.sql): in units of 1e-12, hour i of n gets
 * intDiv(amount, n), plus one unit for each of the first amount mod n hours.
 * A version that holds part of a month gets the shares of its hours.
 */
import { HOUR_MS } from '../util/time.js';
import type { RateCard } from './rate-card.js';

/** One hour of a pool's card. */
export interface CardHour {
  /** Epoch ms of the hour's start. */
  hour: number;
  card: RateCard;
  /** Units of 1e-12. */
  cost: bigint;
  /** GPU-hours of capacity in the hour, units of 1e-12. */
  capacity: bigint;
}

/** Newest first: the first version covering an hour holds it. */
function byNewest(cards: readonly RateCard[]): RateCard[] {
  return [...cards].sort((a, b) => (a.changedAt === b.changedAt ? b.changeId.localeCompare(a.changeId) : b.changedAt.localeCompare(a.changedAt)));
}

const covers = (card: RateCard, hour: number): boolean => card.validFrom <= hour && (card.validTo === null || hour < card.validTo);

function monthBounds(ms: number): { start: number; end: number } {
  const d = new Date(ms);
  return { start: Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1), end: Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) };
}

/** Share of hour `i` of `n` of a monthly amount (units), with the amount's sign. */
export function monthlyShare(amount: bigint, n: number, i: number): bigint {
  const magnitude = amount < 0n ? -amount : amount;
  const share = magnitude / BigInt(n) + (BigInt(i) < magnitude % BigInt(n) ? 1n : 0n);
  return amount < 0n ? -share : share;
}

/**
 * Segments of [from, to) over which one version holds (or none does), in
 * order: the holder only changes where some version starts or ends.
 */
export function cardSegments(cards: readonly RateCard[], from: number, to: number): { from: number; to: number; card: RateCard | undefined }[] {
  const cuts = new Set<number>([from, to]);
  for (const c of cards) {
    if (c.validFrom > from && c.validFrom < to) cuts.add(c.validFrom);
    if (c.validTo !== null && c.validTo > from && c.validTo < to) cuts.add(c.validTo);
  }
  const points = [...cuts].sort((a, b) => a - b);
  const newest = byNewest(cards);
  const segments: { from: number; to: number; card: RateCard | undefined }[] = [];
  for (let i = 0; i + 1 < points.length; i++) {
    const start = points[i] as number;
    segments.push({ from: start, to: points[i + 1] as number, card: newest.find((c) => covers(c, start)) });
  }
  return segments;
}

/** The card's hours of the month starting at `monthStart`, up to (not including) `horizon`. */
export function monthHours(cards: readonly RateCard[], monthStart: number, horizon: number): CardHour[] {
  const { start, end } = monthBounds(monthStart);
  const hoursInMonth = (end - start) / HOUR_MS;
  const hours: CardHour[] = [];
  for (const segment of cardSegments(cards, start, Math.min(end, horizon))) {
    const card = segment.card;
    // An ended card holds its hours with no price: nothing bills them.
    if (card === undefined || card.priceUnit === 'none') continue;
    for (let hour = segment.from; hour < segment.to; hour += HOUR_MS) {
      const cost = card.priceUnit === 'month' ? monthlyShare(card.price, hoursInMonth, (hour - start) / HOUR_MS) : card.hourlyCost;
      hours.push({ hour, card, cost, capacity: card.capacity });
    }
  }
  return hours;
}

/** Months (their starts) that [from, to) overlaps, to is exclusive. */
export function monthsOverlapping(from: number, to: number): number[] {
  const months: number[] = [];
  for (let m = monthBounds(from).start; m < to; m = monthBounds(m).end) months.push(m);
  return months;
}
