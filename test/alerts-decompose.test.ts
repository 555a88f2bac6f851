/**
 * The factor decomposition is exact: factors multiply to the CPP ratio and
 * their money adds up to the change, whatever moved.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { atDailyPace, cppOf, decompose, logMean, lowerMedianIndex, robustSpread, type Cell } from '../src/alerts/decompose.js';
import { explain, windowLabel } from '../src/alerts/explain.js';

/** A pool of `gpus` GPUs for a day at `price` per GPU-hour, one key using `requests` x `e` GPU-ms. */
function cell(name: string, requests: number, e: number, price: number, util: number): Cell {
  const gpuMs = requests * e;
  const usedCost = (price * gpuMs) / 3.6e6;
  return { cell: name, requests, gpuMs, usedCost, loadedCost: usedCost / util };
}
const ratio = (d: ReturnType<typeof decompose>, name: string): number => d.factors.find((f) => f.name === name)?.ratio ?? NaN;

describe('CPP decomposition', () => {
  it('GPU-ms per request doubling on a pool with idle headroom: used CPP doubles, loaded is flat, idle absorbs it', () => {
    const before = [cell('p', 1000, 100, 2, 0.3)];
    const after = [cell('p', 1000, 200, 2, 0.6)];
    const used = decompose('used', before, after);
    expect(used.observedCpp / used.baselineCpp).toBeCloseTo(2, 12);
    expect(ratio(used, 'gpu_ms_per_request')).toBeCloseTo(2, 12);
    expect(used.dominant).toBe('gpu_ms_per_request');
    const loaded = decompose('loaded', before, after);
    expect(loaded.observedCpp / loaded.baselineCpp).toBeCloseTo(1, 12);
    expect(ratio(loaded, 'gpu_ms_per_request')).toBeCloseTo(2, 12);
    expect(ratio(loaded, 'idle')).toBeCloseTo(0.5, 12);
  });

  it('names a price rise, a utilisation drop and a move to a dearer pool', () => {
    expect(decompose('loaded', [cell('p', 1000, 100, 2, 0.6)], [cell('p', 1000, 100, 3, 0.6)]).dominant).toBe('price');
    expect(decompose('loaded', [cell('p', 1000, 100, 2, 0.6)], [cell('p', 1000, 100, 2, 0.3)]).dominant).toBe('idle');
    const mix = decompose('loaded',
      [cell('cheap', 900, 100, 1, 0.6), cell('dear', 100, 100, 4, 0.6)],
      [cell('cheap', 200, 100, 1, 0.6), cell('dear', 800, 100, 4, 0.6)]);
    expect(mix.dominant).toBe('mix');
    expect(ratio(mix, 'price')).toBeCloseTo(1, 12);
  });

  it('a cell on one day only (a new pool) is mix', () => {
    const d = decompose('used', [cell('a', 1000, 100, 2, 0.5)], [cell('a', 500, 100, 2, 0.5), cell('b', 500, 100, 6, 0.5)]);
    expect(d.dominant).toBe('mix');
    expect(d.factors.reduce((a, f) => a * f.ratio, 1)).toBeCloseTo(d.observedCpp / d.baselineCpp, 12);
  });

  it('is exact for any change: product of factors = CPP ratio, money adds up to the extra daily cost', () => {
    const cellArb = fc.record({
      requests: fc.integer({ min: 1, max: 1_000_000 }), e: fc.double({ min: 0.1, max: 10_000, noNaN: true }),
      price: fc.double({ min: 0.01, max: 100, noNaN: true }), util: fc.double({ min: 0.01, max: 1, noNaN: true }),
    });
    const day = fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c', 'd'), cellArb), { minLength: 1, maxLength: 4 })
      .map((cells) => [...new Map(cells).entries()].map(([name, c]) => cell(name, c.requests, c.e, c.price, c.util)));
    fc.assert(fc.property(day, day, fc.constantFrom('loaded' as const, 'used' as const), (before, after, metric) => {
      const d = decompose(metric, before, after);
      const product = d.factors.reduce((a, f) => a * f.ratio, 1);
      expect(Math.abs(product / (d.observedCpp / d.baselineCpp) - 1)).toBeLessThan(1e-9);
      const requests = after.reduce((a, c) => a + c.requests, 0);
      const extra = (cppOf(after, metric) - cppOf(before, metric)) * requests;
      expect(Math.abs(d.factors.reduce((a, f) => a + f.perDay, 0) - extra)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(extra), cppOf(after, metric) * requests));
    }));
  });

  it('medians and spreads', () => {
    expect(logMean(2, 2)).toBe(2);
    expect(logMean(Math.E, 1)).toBeCloseTo(Math.E - 1, 12);
    expect(lowerMedianIndex([5, 1, 3])).toBe(2);
    expect(lowerMedianIndex([4, 1, 3, 2])).toBe(3); // the lower middle is a real day: 2
    expect(robustSpread([1, 2, 3, 4, 100], 3)).toBeCloseTo(1.4826, 6);
  });

  it('the price note shows what a GPU-hour used cost, with the billed price beside it only when the two moved apart', () => {
    // Used cost capped at the bill: the same billed price, each GPU-hour used 8% cheaper.
    const before = [cell('p', 1000, 100, 6.2, 0.3)];
    const after = [cell('p', 1000, 150, 5.7, 0.45)];
    const text = (billedAfter: number, hours = 24): string => explain({
      keyLabel: 'm / f (USD)', currency: 'USD', day: '2026-11-20', hours, baselineDay: '2026-11-11', baselineDays: 7,
      fired: decompose('used', before, after), other: decompose('loaded', before, after), otherQuiet: true, estimated: false,
      ctx: { pricePerGpuHour: { before: 6.2, after: 5.7 }, poolPricePerGpuHour: { before: 6.2, after: billedAfter } },
    });
    expect(text(6.2)).toContain('price per GPU-hour -8.1% ($6.20 -> $5.70 per GPU-hour used; billed $6.20 -> $6.20 per GPU-hour)');
    expect(text(5.7)).toContain('price per GPU-hour -8.1% ($6.20 -> $5.70 per GPU-hour used):');
    expect(text(6.2, 10).split('\n')[0]).toMatch(/on 2026-11-20 00:00-10:00 UTC \(so far\) .*baseline 2026-11-11, the same hours, .*\/day at the day's pace$/);
    expect(windowLabel('2026-11-20', 24)).toBe('2026-11-20');
  });

  it('money per day at the day\'s pace scales every factor, not the ratios', () => {
    const d = decompose('used', [cell('p', 1000, 100, 2, 0.3)], [cell('p', 1000, 200, 2, 0.6)]);
    const paced = atDailyPace(d, 4);
    expect(paced.factors.map((f) => f.ratio)).toEqual(d.factors.map((f) => f.ratio));
    expect(paced.factors.map((f) => f.perDay)).toEqual(d.factors.map((f) => f.perDay * 4));
  });
});
