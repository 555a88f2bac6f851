/**
 * The CLI as users run it (its own process, on the runtime running the tests:
 * Node 20 or Node 24 in CI) prints no runtime warning. On Node 20 the one
 * warning allowed is the AWS SDK's notice that it will need Node >= 22, the
 * reason Node 24 is the recommended runtime; on Node 22+ nothing at all.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { costLinesFromFocus } from '../src/cost-explorer/fixture.js';
import { LocalCostExplorer } from '../src/cost-explorer/local-endpoint.js';
import { FIXTURES, tempDir } from './helpers/files.js';
import { DAY_MS } from '../src/util/time.js';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '..', 'bin', 'inferledger.js');
const major = Number(process.versions.node.split('.')[0]);

let endpoint: LocalCostExplorer;
let url: string;
beforeAll(async () => {
  const day = Date.UTC(2026, 9, 1);
  endpoint = new LocalCostExplorer(costLinesFromFocus(join(FIXTURES, 'billing-focus.csv')), { pageSize: 50, now: () => day + 2 * DAY_MS });
  url = await endpoint.listen();
});
afterAll(async () => { await endpoint.close(); });

/** Warning lines of a run's stderr (Node prints `(node:PID) [DEP...] Warning: ...` or `... SomethingWarning: ...`). */
function warnings(stderr: string): string[] {
  return stderr.split('\n').filter((line) => /\(node:\d+\)|Warning:|DeprecationWarning/.test(line));
}

it(`prints no runtime warning on Node ${process.versions.node}: ingestion (parser thread), Cost Explorer (AWS SDK), attribution, sql`, async () => {
  const dir = tempDir();
  const env = {
    ...process.env,
    INFERLEDGER_DATA_DIR: join(dir, 'warehouse'),
    AWS_ENDPOINT_URL_COST_EXPLORER: url,
    AWS_ACCESS_KEY_ID: 'AKIDLOCAL',
    AWS_SECRET_ACCESS_KEY: 'local-secret',
    NODE_OPTIONS: '',
  };
  const cli = (...args: string[]) => run(process.execPath, [BIN, ...args], { env, maxBuffer: 16 << 20 });
  const runs = [
    await cli('ingest', 'requests', join(FIXTURES, 'requests.ndjson')),
    await cli('collect', 'billing', '--from', '2026-10-01', '--to', '2026-10-02'),
    await cli('attribute', '--from', '2026-10-01', '--to', '2026-10-02'),
    await cli('sql', 'SELECT count() AS n FROM cost_allocation', '--format', 'csv'),
  ];
  expect(runs[3]?.stdout).not.toMatch(/^"n"\n0$/m);
  const printed = runs.flatMap((r) => warnings(r.stderr));
  if (major >= 22) {
    expect(printed).toEqual([]);
  } else {
    // Node 20 only: the AWS SDK's support notice, and nothing else.
    expect(printed.filter((line) => !/NodeVersionSupportWarning/.test(line))).toEqual([]);
  }
});
