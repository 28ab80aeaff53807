#!/usr/bin/env node
// The oci-pack executable: runs the CLI and exits with its status, in this one place.
import { installSignalHandlers } from '../cleanup.js';
import { main } from './main.js';

// A signal undoes what the run started (staging folders, temp files, a layout it created) first.
installSignalHandlers();
const status = await main(process.argv.slice(2));
process.exitCode = status;
// stdout may still be draining to a pipe; exit once it has flushed.
process.stdout.write('', () => process.exit(status));
