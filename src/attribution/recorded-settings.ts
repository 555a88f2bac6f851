/**
 * The attribution settings follow the database, not the process. A database
 * records the settings it was attributed with (attribution_settings, newest
 * row current, older rows its history); every command and job that
 * attributes, owes days by them or reports from the attributed tables asks
 * attributionSettingsFor which settings to use:
 *
 * - nothing recorded: the process's settings are recorded and used;
 * - the process's settings are the recorded ones: used;
 * - the process configures nothing for attribution (all defaults) and the
 *   database recorded others: the recorded ones are used, and a line says so;
 * - the process configures other settings: refused before anything is
 *   written, naming what differs, unless it adopts them (`adopt`, the CLI's
 *   `attribute --adopt-settings`), which records them and then uses them.
 */
import { z } from 'zod';
import { configSchema } from '../config/config.js';
import { settingsHash } from '../scheduler/watermarks.js';
import { sqlFile } from '../warehouse/sql-files.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { parseDateTime } from '../util/time.js';
import type { AttributionSettings } from './attribute.js';

/** The attribution section of the configuration: what stored settings are parsed with. */
const attributionSchema = configSchema.shape.attribution;

/** The settings of a process that configures nothing for attribution. */
export const DEFAULT_ATTRIBUTION_SETTINGS: AttributionSettings = attributionSchema.parse(undefined);

/** One recording of a database's settings. */
export interface RecordedSettings {
  settings: AttributionSettings;
  /** settingsHash of `settings` as read back (what attribution_runs records for runs that use them). */
  hash: string;
  /** 'YYYY-MM-DD hh:mm:ss.sss' UTC */
  recordedAt: string;
  recordedBy: string;
  reason: string;
}

const recordedRow = z.object({
  recorded_at: z.string(),
  settings: z.string(),
  settings_hash: z.string(),
  recorded_by: z.string(),
  reason: z.string(),
});

/** The database recorded settings the configuration schema no longer reads. */
export class RecordedSettingsError extends Error {
  override readonly name = 'RecordedSettingsError';
}

/** Other settings configured than the database recorded: nothing was written. */
export class AttributionSettingsConflict extends Error {
  override readonly name = 'AttributionSettingsConflict';
  constructor(
    readonly database: string,
    readonly recorded: RecordedSettings,
    /** What differs, one entry per setting: `featureTeams.chat: recorded "chat-team", configured none`. */
    readonly differences: readonly string[],
  ) {
    super(conflictMessage(database, recorded, differences));
  }
}

function parseRecorded(database: string, row: z.infer<typeof recordedRow>): RecordedSettings {
  let settings: AttributionSettings;
  try {
    settings = attributionSchema.parse(JSON.parse(row.settings));
  } catch (err) {
    const detail = err instanceof z.ZodError ? err.issues.map((i) => `${i.path.join('.') || '(settings)'}: ${i.message}`).join('; ') : (err as Error).message;
    throw new RecordedSettingsError(
      `the attribution settings recorded in database ${database} on ${row.recorded_at} (by ${row.recorded_by}) are not valid settings now: ${detail}; ` +
        'record the configured ones with `inferledger attribute --from <day> --to <day> --adopt-settings`',
    );
  }
  return { settings, hash: settingsHash(settings), recordedAt: row.recorded_at, recordedBy: row.recorded_by, reason: row.reason };
}

/** The database's current attribution settings (its newest recording), or undefined when none were ever recorded. */
export async function recordedAttributionSettings(warehouse: Warehouse): Promise<RecordedSettings | undefined> {
  const [row] = await warehouse.query(sqlFile('attribution/recorded-settings'), { limit: 1 }, recordedRow);
  return row === undefined ? undefined : parseRecorded(warehouse.database, row);
}

/** Every recording of the database's settings, newest (current) first: the audit of their changes. */
export async function attributionSettingsHistory(warehouse: Warehouse, limit = 1000): Promise<RecordedSettings[]> {
  const rows = await warehouse.query(sqlFile('attribution/recorded-settings'), { limit }, recordedRow);
  return rows.map((row) => parseRecorded(warehouse.database, row));
}

/**
 * Record settings as the database's current ones. The recording time is
 * after the current recording's, so the newest row is the one written last
 * even within a millisecond.
 */
export async function recordAttributionSettings(
  warehouse: Warehouse,
  settings: AttributionSettings,
  by: string,
  reason: string,
  current?: RecordedSettings,
): Promise<RecordedSettings> {
  const normal = normalize(settings);
  const at = Math.max(Date.now(), current === undefined ? 0 : parseDateTime(current.recordedAt) + 1);
  const hash = settingsHash(normal);
  await warehouse.insertObjects('attribution_settings', [{
    recorded_at: new Date(at).toISOString(),
    settings: JSON.stringify(normal),
    settings_hash: hash,
    recorded_by: by,
    reason,
  }]);
  return { settings: normal, hash, recordedAt: new Date(at).toISOString().slice(0, 23).replace('T', ' '), recordedBy: by, reason };
}

/** The settings as they read back from JSON: keys holding undefined dropped, defaults filled in. */
function normalize(settings: AttributionSettings): AttributionSettings {
  return attributionSchema.parse(JSON.parse(JSON.stringify(settings)));
}

/** The settings as dotted paths to JSON values: `costBasis`, `pools.gpu-a.owner`, `featureTeams.chat`. */
function flatten(value: unknown, prefix: string, out: Map<string, string>): Map<string, string> {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [key, inner] of Object.entries(value)) flatten(inner, prefix === '' ? key : `${prefix}.${key}`, out);
  } else if (value !== undefined) {
    out.set(prefix, JSON.stringify(value));
  }
  return out;
}

function differing(a: Map<string, string>, b: Map<string, string>): string[] {
  return [...new Set([...a.keys(), ...b.keys()])]
    .sort()
    .filter((k) => a.get(k) !== b.get(k))
    .map((k) => `${k}: recorded ${a.get(k) ?? 'none'}, configured ${b.get(k) ?? 'none'}`);
}

/** What differs between recorded and configured settings, one entry per setting, in a stable order. */
export function settingsDifferences(recorded: AttributionSettings, configured: AttributionSettings): string[] {
  const leaves = differing(flatten(recorded, '', new Map()), flatten(configured, '', new Map()));
  if (leaves.length > 0 || settingsHash(recorded) === settingsHash(configured)) return leaves;
  // Only empty entries differ (a pool listed with no settings): name the sections whole.
  const sections = (s: AttributionSettings): Map<string, string> => new Map(Object.entries(s).map(([k, v]) => [k, JSON.stringify(v)]));
  return differing(sections(recorded), sections(configured));
}

/** How many differences a message lists before it counts the rest. */
const LISTED_DIFFERENCES = 5;

function listDifferences(differences: readonly string[]): string {
  const shown = differences.slice(0, LISTED_DIFFERENCES).join('; ');
  const more = differences.length - LISTED_DIFFERENCES;
  return more > 0 ? `${shown}; and ${more} more` : shown;
}

function describeRecording(r: RecordedSettings): string {
  return `recorded ${r.recordedAt} UTC by ${r.recordedBy} (${r.reason})`;
}

function conflictMessage(database: string, recorded: RecordedSettings, differences: readonly string[]): string {
  return (
    `database ${database} was attributed with other attribution settings than this process configures (${describeRecording(recorded)}); ` +
    `differences: ${listDifferences(differences)}. Nothing was attributed or written. ` +
    'To attribute with the configured settings from now on, run `inferledger attribute --from <day> --to <day> --adopt-settings`: ' +
    'it records them for the database and attributes the window (the service then re-attributes the other days with them); ' +
    'to keep the recorded settings, configure them instead, or configure nothing for attribution'
  );
}

export interface SettingsOptions {
  /**
   * Record the configured settings even when the database recorded others,
   * and use them (the CLI's `attribute --adopt-settings`). The caller then
   * attributes with them.
   */
  adopt?: boolean;
  /** What is asking, recorded with settings it records: 'inferledger attribute', 'job attribute', 'inferledger demo'. */
  by?: string;
  /** Why, recorded with settings it records; default 'first attribution', or 'adopted' with `adopt`. */
  reason?: string;
  /**
   * Never write (a report, a reader through the service's query endpoint):
   * when nothing is recorded the configured settings are used as they are.
   * `adopt` is refused with it.
   */
  readOnly?: boolean;
  /** Where the one line about settings used from the database (or recorded for it) goes. */
  log?: (line: string) => void;
}

/** Lines already said per log sink: a service asks at every job, and says each recording once. */
const said = new WeakMap<(line: string) => void, Set<string>>();

function sayOnce(log: ((line: string) => void) | undefined, key: string, line: string): void {
  if (log === undefined) return;
  let lines = said.get(log);
  if (lines === undefined) {
    lines = new Set();
    said.set(log, lines);
  }
  if (lines.has(key)) return;
  lines.add(key);
  log(line);
}

/**
 * The attribution settings a process uses against this database: call it once
 * at the start of a command or job, before anything is attributed, and use
 * what it returns wherever the settings are read (attributeWindow,
 * attributeDay, the watermarks, the chargeback report). Throws
 * AttributionSettingsConflict, before writing anything, when the process
 * configures other settings than the database recorded and does not adopt them.
 */
export async function attributionSettingsFor(
  warehouse: Warehouse,
  configured: AttributionSettings,
  options: SettingsOptions = {},
): Promise<AttributionSettings> {
  const { adopt = false, readOnly = false, by = 'inferledger', log } = options;
  if (adopt && readOnly) throw new Error('settings cannot be adopted by a process that does not write');
  const database = warehouse.database;
  const wanted = normalize(configured);
  const hash = settingsHash(wanted);
  let recorded: RecordedSettings | undefined;
  try {
    recorded = await recordedAttributionSettings(warehouse);
  } catch (err) {
    // Unreadable recorded settings are replaced only deliberately.
    if (!(adopt && err instanceof RecordedSettingsError)) throw err;
  }

  if (recorded === undefined) {
    if (readOnly) return wanted;
    const first = await recordAttributionSettings(warehouse, wanted, by, options.reason ?? (adopt ? 'adopted' : 'first attribution'));
    sayOnce(log, `${database}\n${first.hash}\n${first.recordedAt}`, `attribution settings: recorded this process's settings for database ${database} (${first.reason}); later processes that configure none use them`);
    return wanted;
  }
  if (recorded.hash === hash) return recorded.settings;

  const differences = settingsDifferences(recorded.settings, wanted);
  if (adopt) {
    const adopted = await recordAttributionSettings(warehouse, wanted, by, options.reason ?? 'adopted', recorded);
    sayOnce(log, `${database}\n${adopted.hash}\n${adopted.recordedAt}`, `attribution settings: adopted this process's settings for database ${database}, replacing those ${describeRecording(recorded)}; changed: ${listDifferences(differences)}`);
    return wanted;
  }
  if (hash === settingsHash(DEFAULT_ATTRIBUTION_SETTINGS)) {
    sayOnce(log, `${database}\n${recorded.hash}\n${recorded.recordedAt}`, `attribution settings: this process configures none; using those of database ${database}, ${describeRecording(recorded)}`);
    return recorded.settings;
  }
  throw new AttributionSettingsConflict(database, recorded, differences);
}
