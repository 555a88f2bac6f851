/**
 * What the tests comparing the engine's path with the parser threads' share:
 * a warehouse whose statements are recorded (to see which path each unit
 * took), and everything it stores but when.
 */
import { z } from 'zod';
import type { Warehouse } from '../../src/warehouse/warehouse.js';
import { freshWarehouse } from './warehouse.js';

export interface RecordedWarehouse {
  warehouse: Warehouse;
  /** Statements sent, by their first SQL line. */
  statements: string[];
}

/** A fresh warehouse whose statements are recorded. */
export async function recordedWarehouse(): Promise<RecordedWarehouse> {
  const warehouse = await freshWarehouse();
  const statements: string[] = [];
  const command = warehouse.command.bind(warehouse);
  warehouse.command = async (sql, params, settings) => {
    statements.push(sql.split('\n').find((l) => !l.startsWith('--')) ?? '');
    return command(sql, params, settings);
  };
  return { warehouse, statements };
}

/** Units the engine staged. */
export const stagedUnits = (r: RecordedWarehouse): number => r.statements.filter((sql) => sql.startsWith('INSERT INTO {stage:Identifier}')).length;

/** Inserts from stages into inference_requests. */
export const stagedInserts = (r: RecordedWarehouse): number => r.statements.filter((sql) => sql === 'INSERT INTO inference_requests').length;

const storedRow = z.array(z.unknown());

/** Every stored request row but its ingested_at (two runs ingest at different moments), in id order. */
export async function storedRequests(w: Warehouse): Promise<unknown[]> {
  let text = '';
  const sql = 'SELECT * EXCEPT ingested_at FROM inference_requests FINAL ORDER BY request_id FORMAT JSONCompactEachRow';
  for await (const chunk of await w.queryText(sql, {}, 'JSONCompactEachRow')) text += String(chunk);
  return text.trim().split('\n').filter((l) => l !== '').map((l) => storedRow.parse(JSON.parse(l)));
}
