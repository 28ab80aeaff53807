#!/usr/bin/env node
// The oci-pack executable: runs the CLI from its bundle (src/cli/bundle.ts), or from the modules tsc
// built when there is no bundle (a build by `tsc` alone).
import { packageVersion } from '../package.js';
import { loadBundle } from './bundle.js';

const argv = process.argv.slice(2);
// Answered before the bundle is read: start-up time is all that --version costs (main agrees).
if (argv.length === 1 && argv[0] === '--version') {
  process.stdout.write(`${packageVersion()}\n`);
} else {
  const run = loadBundle()?.exports.run ?? (await import('./run.js')).run;
  await run(argv);
}
