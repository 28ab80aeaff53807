#!/usr/bin/env node
// The oci-pack executable: runs the CLI and exits with its status, in this one place.
import { installSignalHandlers, interrupted } from '../cleanup.js';
import { main } from './main.js';

// A signal undoes what the run started (staging folders, temp files, a layout it created) first.
installSignalHandlers();
const status = await main(process.argv.slice(2));
// Stopped by a signal: its handler exits (128 + the signal) once the clean-up is done.
if (interrupted()) await new Promise(() => undefined);
process.exitCode = status;
// stdout may still be draining to a pipe; exit once it has flushed.
process.stdout.write('', () => process.exit(status));
