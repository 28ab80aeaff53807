// What a run must undo if it is stopped by a signal (SIGINT, SIGTERM, SIGHUP): its temporary files,
// staging folders and a layout directory it created. The library registers; only the CLI listens.
import { constants } from 'node:os';
import { UserError } from './errors.js';

type Action = () => Promise<void>;

const actions = new Set<Action>();
let stopping = false;

/** Run `undo` if the process is stopped by a signal before the returned function is called. */
export function onInterrupt(undo: Action): () => void {
  actions.add(undo);
  return () => {
    actions.delete(undo);
  };
}

/** Whether a signal has arrived and the registered actions are being (or have been) run. */
export function interrupted(): boolean {
  return stopping;
}

/**
 * Throws once a signal has arrived: the places that create temp files, staging folders and locks
 * call it, so that the run, which goes on while the clean-up awaits, makes nothing new to undo.
 */
export function checkNotInterrupted(): void {
  if (stopping) throw new UserError('stopped by a signal', 'EINPUT');
}

/**
 * Run every registered action, newest first (a lock, then a staging folder, then the layout it
 * is in), twice: the second pass catches what an operation already under way when the signal came
 * made during the first.
 */
export async function runInterruptActions(): Promise<void> {
  stopping = true;
  for (let pass = 0; pass < 2; pass++) {
    if (pass > 0) await new Promise((r) => setTimeout(r, 25));
    for (const undo of [...actions].reverse()) {
      try {
        await undo();
      } catch {
        // Clean-up is best effort: the next run's stale-temp sweep removes what is left.
      }
    }
  }
  actions.clear();
}

/**
 * Make SIGINT, SIGTERM and SIGHUP undo the registered actions, then exit with 128 + the signal's
 * number, as a shell reports a process killed by it. A second signal exits at once.
 */
export function installSignalHandlers(exit: (status: number) => void = (s) => process.exit(s)): void {
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      const status = 128 + constants.signals[signal];
      if (stopping) exit(status);
      void runInterruptActions().then(() => exit(status));
    });
  }
}
