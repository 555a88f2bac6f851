#!/usr/bin/env node
// Entry point of `npx inferledger`: runs the compiled CLI, which `npm install`
// builds through the prepare script (or `npm run build`). The job registry
// lives outside src/, so the entry point hands it to the commands that run jobs.
let cli;
try {
  cli = await import('../dist/src/cli/main.js');
} catch (err) {
  if (err?.code !== 'ERR_MODULE_NOT_FOUND') throw err;
  process.stderr.write('inferledger is not built yet: run `npm run build` in its directory\n');
  process.exit(1);
}
const jobs = async () => (await import('../dist/jobs/registry.js')).JOB_REGISTRY;
process.exitCode = await cli.main(process.argv.slice(2), { ...cli.processIo(), jobs });
