// Where the validators generated at build time (scripts/compile-schemas.mjs) are found: next to this
// module once built. The CLI bundle (scripts/bundle-cli.mjs) replaces this module with one that
// holds them, so that a command does not load them as a file of its own.
import { createRequire } from 'node:module';

/** The generated validators' module, or undefined in a build by `tsc` alone. */
export function generatedValidators(): unknown {
  try {
    return createRequire(import.meta.url)('./schema-validators.cjs') as unknown;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw err;
    return undefined;
  }
}
