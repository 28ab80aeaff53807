// Where the CLI writes: stdout for results, stderr for warnings and progress (progress only on a
// terminal). Passed in, so tests run the CLI in-process and read what it printed.
import { usageError } from '../errors.js';

export interface Io {
  stdout(text: string): void;
  stderr(text: string): void;
  /** Whether stderr is a terminal (progress is shown only there). */
  stderrIsTty: boolean;
  /** Whether stdout is a terminal (no archive is written to one). */
  stdoutIsTty?: boolean;
  /** The terminal's width, for help text and progress lines. */
  columns?: number;
  /** The clock progress rates and redraws are timed by (tests set it). */
  now?: () => number;
}

export function processIo(): Io {
  return {
    stdout: (t) => void process.stdout.write(t),
    stderr: (t) => void process.stderr.write(t),
    stderrIsTty: Boolean(process.stderr.isTTY),
    stdoutIsTty: Boolean(process.stdout.isTTY),
    columns: process.stderr.columns || process.stdout.columns || 80,
  };
}

/** "1.2 MB" style sizes for progress lines. */
export function humanSize(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = bytes;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}

/**
 * An archive argument, where "-" means stdin or stdout. yargs-parser hands a lone "-" to a string
 * positional as "", so the raw arguments say which it was.
 */
export function archiveArg(value: string, argv: readonly string[]): string {
  if (value === '' && argv.includes('-')) return '-';
  if (value === '') throw usageError('the archive path is empty (say - for stdin or stdout)');
  return value;
}

/**
 * Said when a tag leaves an image for a new one: nothing names the old image's blobs any more,
 * and only a collection removes them.
 */
export function movedTagNotice(tag: string, from: string): string {
  return `${tag} moved from ${from.slice(0, 19)} to the new image; the old image's blobs stay in the layout until \`oci-pack gc\` removes what no tag holds`;
}

/** Long hex digests in a progress label cut to docker's twelve digits, so a line fits a terminal. */
export function shortDigests(text: string): string {
  return text.replace(/\b([a-f0-9]{12})[a-f0-9]{52}\b/g, '$1');
}
