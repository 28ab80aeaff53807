// How the CLI gets yargs. The CLI bundle (scripts/bundle-cli.mjs) replaces this module with one that
// takes yargs from the bundle, where the same stand-in for cliui is made at bundle time.
import { Module, createRequire } from 'node:module';
import type yargsFactory from 'yargs/yargs';

/**
 * yargs' CommonJS build: its ESM build lays out help with cliui's ESM build, which cuts words at a
 * column's edge ("docke" / "r-save"); the CommonJS one wraps at spaces (wrap-ansi). yargs/yargs is
 * that build without the singleton instance yargs' main entry makes (and we would not use) as it
 * loads. yargs requires cliui (with wrap-ansi and ansi-styles) as it loads, to lay out help, ~15 ms
 * of every command; Node's require.cache is given a stand-in for it whose first call, when help is
 * shown, loads the real cliui.
 */
export function loadYargs(): typeof yargsFactory {
  const require = createRequire(import.meta.url);
  const entry = require.resolve('yargs/yargs');
  const fromYargs = createRequire(entry);
  const cliuiPath = fromYargs.resolve('cliui');
  if (require.cache[cliuiPath] === undefined) {
    let real: ((opts: unknown) => unknown) | undefined;
    const standIn = new Module(cliuiPath);
    standIn.filename = cliuiPath;
    standIn.loaded = true;
    standIn.exports = function cliui(opts: unknown): unknown {
      if (!real) {
        if (require.cache[cliuiPath] === standIn) delete require.cache[cliuiPath];
        real = fromYargs('cliui') as (opts: unknown) => unknown;
      }
      return real(opts);
    };
    require.cache[cliuiPath] = standIn;
  }
  return require(entry) as typeof yargsFactory;
}
