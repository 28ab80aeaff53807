// The oci-pack executable's body: runs the CLI and exits with its status, in this one place. bin.ts
// runs it from the CLI bundle (or from here, in a build by tsc alone).
import { installSignalHandlers, interrupted } from '../cleanup.js';
import { main } from './main.js';

export async function run(argv: string[]): Promise<void> {
  // A signal undoes what the run started (staging folders, temp files, a layout it created) first.
  installSignalHandlers();
  const status = await main(argv);
  // Stopped by a signal: its handler exits (128 + the signal) once the clean-up is done.
  if (interrupted()) await new Promise(() => undefined);
  process.exitCode = status;
  // stdout may still be draining to a pipe; exit once it has flushed.
  process.stdout.write('', () => process.exit(status));
}

export { main };
