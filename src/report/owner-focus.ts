/**
 * focus-allocated.csv of an owner pack: the rows of the FOCUS export
 * (focus-allocated.ts) that are the owner's, byte for byte as that file
 * writes them. A row is the owner's when its AllocatedTags name the owner:
 * the GPU time its requests used (`team` or `tenant` tag), and under
 * `--idle owner` the idle capacity of the pools the team owns (`team` tag).
 * A pool's idle row under spread or separate, and untagged cost, belong to no
 * owner and are left out, so the rows sum to the owner's used cost (plus
 * the idle of the pools it owns), not to its spread chargeback cost.
 */
import { parse } from 'csv-parse/sync';
import { z } from 'zod';
import type { ReportBy } from './month-data.js';

const tags = z.object({ team: z.string().optional(), tenant: z.string().optional() });

export function ownerFocusCsv(focusCsv: string, by: ReportBy, owner: string): string {
  const records = z.array(z.object({ record: z.array(z.string()), raw: z.string() })).parse(parse(focusCsv, { raw: true }));
  const [header, ...rows] = records;
  if (header === undefined) return focusCsv;
  const column = header.record.indexOf('AllocatedTags');
  if (column < 0) throw new Error('focus-allocated.csv has no AllocatedTags column');
  const tag = by === 'tenant' ? 'tenant' : 'team';
  const mine = rows.filter((r) => {
    const cell = r.record[column] ?? '';
    return cell.startsWith('{') && tags.parse(JSON.parse(cell))[tag] === owner;
  });
  return [header, ...mine].map((r) => r.raw).join('');
}
