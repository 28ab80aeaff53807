import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { COMMAND_NAMES, skipHelpCache } from '../../src/cli/main.js';
import type yargsModule from 'yargs';
import { BIN, runBin, tempDir } from '../helpers.js';

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

test('--version prints the package version, from the fast path and through the parser alike', () => {
  const { version } = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const fast = runBin(['--version']);
  assert.equal(fast.status, 0, fast.stderr);
  assert.equal(fast.stdout, `${version}\n`);
  // Not the lone flag: yargs answers, and must agree.
  const parsed = runBin(['layout', '--version']);
  assert.equal(parsed.status, 0, parsed.stderr);
  assert.equal(parsed.stdout, `${version}\n`);
});

test('--help lists every command without loading them', () => {
  const help = runBin(['--help']);
  assert.equal(help.status, 0, help.stderr);
  for (const command of ['layout', 'to-docker', 'from-docker']) assert.match(help.stdout, new RegExp(`oci-pack ${command}`));
});

/** The CLI's own modules (dist/src/cli/*.js) a run of `args` loads, seen by a module hook in the child. */
async function cliModulesLoaded(t: TestContext, args: string[]): Promise<{ status: number; loaded: string[] }> {
  const dir = await tempDir(t);
  const hooks = path.join(dir, 'hooks.mjs');
  await fs.writeFile(hooks, [
    "import { writeSync } from 'node:fs';",
    'export async function load(url, context, next) {',
    "  const m = /\\/dist\\/src\\/cli\\/([^/]+)\\.js$/.exec(url);",
    '  if (m) writeSync(2, `LOADED ${m[1]}\\n`);',
    '  return next(url, context);',
    '}',
    '',
  ].join('\n'));
  const register = `import { register } from 'node:module'; register(${JSON.stringify(pathToFileURL(hooks).href)});`;
  const r = spawnSync(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(register)}`, BIN, ...args], { encoding: 'utf8', cwd: dir });
  const loaded = [...r.stderr.matchAll(/^LOADED (\S+)$/gm)].map((m) => m[1]!).sort();
  return { status: r.status ?? -1, loaded };
}

test('a run loads the module of the command it names and no other; --help and a typo load them all', async (t) => {
  const gc = await cliModulesLoaded(t, ['gc', 'no-such-layout']);
  assert.equal(gc.status, 1);
  assert.deepEqual(gc.loaded, ['bin', 'gc', 'io', 'main']);
  const untag = await cliModulesLoaded(t, ['untag', 'no-such-layout', 'x']);
  assert.deepEqual(untag.loaded, ['bin', 'io', 'main', 'tag']);
  for (const args of [['--help'], ['-q', 'gc', 'x'], ['layot', 'x']]) {
    const all = await cliModulesLoaded(t, args);
    for (const command of ['layout', 'to-docker', 'from-docker', 'gc', 'tag', 'copy', 'push', 'pull', 'login', 'validate', 'inspect', 'index-command']) {
      assert.ok(all.loaded.includes(command), `${args.join(' ')}: ${command} not loaded (${all.loaded.join(' ')})`);
    }
  }
});

test('each command name runs its own command, and --help lists every one', () => {
  const help = runBin(['--help']);
  assert.equal(help.status, 0, help.stderr);
  assert.equal(COMMAND_NAMES.length, 13);
  for (const name of COMMAND_NAMES) {
    assert.match(help.stdout, new RegExp(`^  oci-pack ${name} `, 'm'));
    // Run alone, the command's own help: its usage line names it (untag is not tag's help).
    const own = runBin([name, '--help']);
    assert.equal(own.status, 0, own.stderr);
    assert.match(own.stdout, new RegExp(`^oci-pack ${name}( |$)`), `${name} --help: ${own.stdout.split('\n')[0]}`);
  }
});

test('yargs is kept from rendering a command\'s help while the command runs', async () => {
  type Usage = { hasCachedHelpMessage(): boolean };
  const yargs = createRequire(import.meta.url)('yargs') as typeof yargsModule;
  const run = async (skip: boolean): Promise<boolean> => {
    let ran = false;
    const parser = yargs(['go']).command({ command: 'go', describe: 'a command', handler: () => void (ran = true) }).exitProcess(false);
    if (skip) assert.equal(skipHelpCache(parser), true, 'yargs\' usage internals were not found');
    await parser.parseAsync();
    assert.ok(ran);
    return (parser as unknown as { getInternalMethods(): { getUsageInstance(): Usage } }).getInternalMethods().getUsageInstance().hasCachedHelpMessage();
  };
  // What yargs does on its own (so this test notices if it stops), then with the skip.
  assert.equal(await run(false), true);
  assert.equal(await run(true), false);
});

test('a command run loads no help layout (cliui\'s wrap-ansi and ansi-styles); help still lays out, wrapped at spaces', () => {
  // In a child: this process has rendered help already. The stand-in is used while nothing shows help.
  const mainUrl = pathToFileURL(path.join(ROOT, 'dist', 'src', 'cli', 'main.js')).href;
  const script = `
    import { createRequire } from 'node:module';
    const { main } = await import(${JSON.stringify(mainUrl)});
    const loaded = () => Object.keys(createRequire(import.meta.url).cache).filter((k) => /node_modules\\/(wrap-ansi|ansi-styles)\\//.test(k));
    const io = { stdout: () => undefined, stderr: () => undefined, stderrIsTty: false, stdoutIsTty: false, columns: 40 };
    const status = await main(['gc', '/nonexistent/oci-pack-perf4'], io);
    const before = loaded();
    let help = '';
    const log = console.log;
    console.log = (s) => void (help += s + '\\n');
    await main(['gc', '--help'], io);
    console.log = log;
    process.stdout.write(JSON.stringify({ status, before, after: loaded(), help }));
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { status: number; before: string[]; after: string[]; help: string };
  assert.equal(out.status, 1);
  assert.deepEqual(out.before, []);
  // The real cliui, with wrap-ansi, once help is shown: 40 columns wrap the description at a space.
  assert.ok(out.after.some((k) => k.includes('wrap-ansi')), out.after.join(' '));
  assert.match(out.help, /^remove unreachable blobs and the\nleftovers of killed writers from a\nlayout$/m);
});
