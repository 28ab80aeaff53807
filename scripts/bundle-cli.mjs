// Build step (after tsc and compile-schemas): bundles the CLI, dist/src/cli/run.js and everything it
// runs (yargs, tar-stream, the generated validators), into one CommonJS file,
// dist/src/cli/oci-pack.cjs, that bin.js runs. One file instead of ~60 saves a command the finding,
// reading and compiling of each; modules stay lazy (a command's module is initialised when it runs).
// Then it runs the hello example through the bundle, in this process, and keeps V8's code cache of
// what that compiled beside it (dist/src/cli/oci-pack.cjs.cache; see src/cli/bundle.ts).
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { BUNDLE, loadBundle, codeCacheFile, idLine } = await import(join(root, 'dist/src/cli/bundle.js'));
const out = BUNDLE;
const outDir = dirname(out);
const require = createRequire(join(root, 'package.json'));
const yargsEntry = require.resolve('yargs/yargs');
const yargsBuild = join(dirname(yargsEntry), 'build', 'index.cjs');
const realCliui = createRequire(yargsEntry).resolve('cliui');

// yargs finds its messages' translations at ../locales from its own build; in the bundle they are here.
const LOCALES_FROM = 're(__dirname,"../locales")';
const LOCALES_TO = 're(__dirname,"yargs-locales")';
cpSync(join(dirname(yargsEntry), 'locales'), join(outDir, 'yargs-locales'), { recursive: true });
// yargs guesses a version (which main.ts then sets) from the package.json found up from the main
// module, or from the working directory when there is none (the bundle is not Node's main module):
// every run listed the working directory and each one above it, and took the package.json of
// whatever project the user was in. In the bundle it starts from the bundle: ours is found at once.
const MAIN_FROM = 'mainFilename:null!==(se=null===(ee=null===require||void 0===require?void 0:require.main)||void 0===ee?void 0:ee.filename)&&void 0!==se?se:process.cwd()';
const MAIN_TO = 'mainFilename:__filename';

/** The bundle's own versions of the modules that, built by tsc, find files beside them at run time. */
const seams = {
  name: 'oci-pack-seams',
  setup(b) {
    // src/cli/load-yargs.ts: yargs' CommonJS build, from the bundle.
    b.onResolve({ filter: /\/load-yargs\.js$/ }, () => ({ path: 'load-yargs', namespace: 'seam' }));
    b.onLoad({ filter: /^load-yargs$/, namespace: 'seam' }, () => ({
      contents: 'export function loadYargs() { return require("yargs/yargs"); }',
      resolveDir: root,
      loader: 'js',
    }));
    // src/schema-generated.ts: the validators, from the bundle.
    b.onResolve({ filter: /\/schema-generated\.js$/ }, () => ({ path: 'schema-generated', namespace: 'seam' }));
    b.onLoad({ filter: /^schema-generated$/, namespace: 'seam' }, () => ({
      contents: `export function generatedValidators() { return require(${JSON.stringify(join(root, 'dist/src/schema-validators.cjs'))}); }`,
      resolveDir: root,
      loader: 'js',
    }));
    // yargs requires cliui (with wrap-ansi and ansi-styles) as it loads, to lay out help: it gets a
    // stand-in that initialises the real cliui on its first call, when help is shown (as
    // load-yargs.ts does with require.cache outside the bundle).
    b.onResolve({ filter: /^cliui$/ }, () => ({ path: 'cliui', namespace: 'seam' }));
    b.onLoad({ filter: /^cliui$/, namespace: 'seam' }, () => ({
      contents: `let real; module.exports = function cliui(opts) { real ??= require(${JSON.stringify(realCliui)}); return real(opts); };`,
      resolveDir: root,
      loader: 'js',
    }));
    // yargs requires node:assert (~4 ms of a run: assert loads inspect's colours, AssertionError and
    // more) for two checks of how it is called: the real one is loaded only when a check fails.
    b.onResolve({ filter: /^assert$/ }, (args) => (args.importer === yargsBuild ? { path: 'assert', namespace: 'seam' } : undefined));
    b.onLoad({ filter: /^assert$/, namespace: 'seam' }, () => ({
      contents: [
        'exports.strictEqual = (a, b, m) => { if (!Object.is(a, b)) require("node:assert").strictEqual(a, b, m); };',
        'exports.notStrictEqual = (a, b, m) => { if (Object.is(a, b)) require("node:assert").notStrictEqual(a, b, m); };',
      ].join('\n'),
      resolveDir: root,
      loader: 'js',
    }));
    b.onLoad({ filter: /[\\/]yargs[\\/]build[\\/]index\.cjs$/ }, (args) => {
      if (args.path !== yargsBuild) return undefined;
      let text = readFileSync(args.path, 'utf8');
      for (const [from, to] of [[LOCALES_FROM, LOCALES_TO], [MAIN_FROM, MAIN_TO]]) {
        if (!text.includes(from)) throw new Error(`${args.path}: no ${from} (a new yargs?); see scripts/bundle-cli.mjs`);
        text = text.replace(from, to);
      }
      return { contents: text, loader: 'js' };
    });
  },
};

rmSync(`${out}.cache`, { force: true });
const result = await build({
  entryPoints: [join(root, 'dist/src/cli/run.js')],
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // ASCII (esbuild escapes the rest), so that bin.js reads it as latin1, without decoding.
  charset: 'ascii',
  plugins: [seams],
  define: { 'import.meta.url': '__ociPackUrl' },
  banner: { js: 'var __ociPackUrl = require("node:url").pathToFileURL(__filename).href;' },
  logLevel: 'warning',
  metafile: true,
  write: false,
});
const inputs = Object.keys(result.metafile.inputs);
if (!inputs.some((i) => i.endsWith('dist/src/cli/layout.js'))) throw new Error('bundle-cli: the commands were not bundled');
// charset ascii escapes what is not ASCII in code; what is left is in comments (→, …), which only
// need to stay ASCII.
const text = result.outputFiles[0].text.replace(/[^\x00-\x7f]/gu, (c) => `\\u{${c.codePointAt(0).toString(16)}}`);
// A dynamic import() left in the bundle would look for a module at run time, beside the bundle.
if (/\bimport\(/.test(text)) throw new Error('bundle-cli: the bundle still holds a dynamic import()');
// Its id: a code cache is used only with the text it was made from (src/cli/bundle.ts).
const id = createHash('sha256').update(text).digest('hex');
writeFileSync(out, `${idLine(id)}${text}`);

// The hello example, as the README runs it: what it compiles is what the code cache holds.
const bundle = loadBundle(out);
const scratch = mkdtempSync(join(tmpdir(), 'oci-pack-bundle-'));
try {
  const io = { stdout: () => undefined, stderr: (t) => void process.stderr.write(t), stderrIsTty: false, stdoutIsTty: false, columns: 80 };
  const layout = join(scratch, 'out');
  const runs = [
    ['layout', layout, '--add', `${join(root, 'fixtures/hello/hello')}:/hello`, '--cmd', '/hello', '--tag', 'hello:latest', '-q'],
    ['to-docker', join(scratch, 'out.tar'), '--layout', layout, '-q'],
  ];
  for (const argv of runs) {
    const status = await bundle.exports.main(argv, io);
    if (status !== 0) throw new Error(`bundle-cli: oci-pack ${argv.join(' ')} exited ${status}`);
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
const cache = bundle.script.createCachedData();
writeFileSync(`${out}.cache`, codeCacheFile(bundle.id, cache));
console.log(`bundle-cli: ${inputs.length} modules → ${out} (${text.length} bytes), code cache ${cache.length} bytes`);
