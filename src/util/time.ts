/** Date.parse rolls 2026-02-30 over into March; this says whether a YYYY-MM-DD prefix is a real calendar date. */
export function isRealDate(iso: string): boolean {
  const [y, m, d] = iso.slice(0, 10).split('-').map(Number) as [number, number, number];
  return m >= 1 && m <= 12 && new Date(Date.UTC(y, m - 1, d)).getUTCDate() === d;
}
