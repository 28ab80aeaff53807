// What a run must undo if it is stopped by a signal (SIGINT, SIGTERM, SIGHUP): its temporary files,
// staging folders and a layout directory it created. The library registers; only the CLI listens.
import { constants } from 'node:os';

type Action = () => Promise<void>;

const actions = new Set<Action>();

/** Run `undo` if the process is stopped by a signal before the returned function is called. */
export function onInterrupt(undo: Action): () => void {
  actions.add(undo);
  return () => {
    actions.delete(undo);
  };
}

/** Run every registered action, newest first (a staging folder goes before the layout it is in). */
export async function runInterruptActions(): Promise<void> {
  const pending = [...actions].reverse();
  actions.clear();
  for (const undo of pending) {
    try {
      await undo();
    } catch {
      // Clean-up is best effort: the next run's stale-temp sweep removes what is left.
    }
  }
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
      stopping = true;
      void runInterruptActions().then(() => exit(status));
    });
  }
}

let stopping = false;
