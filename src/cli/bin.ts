#!/usr/bin/env node
// The oci-pack executable: runs the CLI and exits with its status, in this one place.
import { main } from './main.js';

const status = await main(process.argv.slice(2));
process.exitCode = status;
// stdout may still be draining to a pipe; exit once it has flushed.
process.stdout.write('', () => process.exit(status));
