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
import { BUNDLE } from '../../src/cli/bundle.js';
import { BIN, HELLO, runBin, tempDir } from '../helpers.js';

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

/**
 * The modules of the CLI bundle a run of `args` initialises, as the bundle names them
 * ("dist/src/cli/gc.js", "node_modules/cliui/build/index.cjs"): each is a function of that name
 * there, called once when the module is first needed; V8's coverage of the child counts the calls.
 */
async function bundleModulesRun(t: TestContext, args: string[]): Promise<{ status: number; run: string[] }> {
  const dir = await tempDir(t);
  const coverage = path.join(dir, 'coverage');
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: dir, env: { ...process.env, NODE_V8_COVERAGE: coverage } });
  const run = new Set<string>();
  let sawBundle = false;
  for (const name of await fs.readdir(coverage)) {
    const report = JSON.parse(await fs.readFile(path.join(coverage, name), 'utf8')) as { result: { url: string; functions: { functionName: string; ranges: { count: number }[] }[] }[] };
    for (const script of report.result) {
      if (script.url !== pathToFileURL(BUNDLE).href && script.url !== BUNDLE) continue;
      sawBundle = true;
      for (const f of script.functions) {
        if (/^(dist\/src|node_modules)\/.+\.c?js$/.test(f.functionName) && (f.ranges[0]?.count ?? 0) > 0) run.add(f.functionName);
      }
    }
  }
  assert.ok(sawBundle, `oci-pack ${args.join(' ')} did not run the bundle ${BUNDLE}`);
  return { status: r.status ?? -1, run: [...run].sort() };
}

const COMMAND_MODULES = ['layout', 'to-docker', 'from-docker', 'gc', 'tag', 'copy', 'push', 'pull', 'login', 'validate', 'inspect', 'index-command'];

/** The commands' modules (dist/src/cli/NAME.js) among them, by NAME. */
const commandModules = (run: string[]): string[] => run.flatMap((m) => /^dist\/src\/cli\/([^/]+)\.js$/.exec(m)?.[1] ?? []).filter((m) => COMMAND_MODULES.includes(m));

test('a run initialises the module of the command it names and no other; --help and a typo all of them', async (t) => {
  const gc = await bundleModulesRun(t, ['gc', 'no-such-layout']);
  assert.equal(gc.status, 1);
  assert.deepEqual(commandModules(gc.run), ['gc']);
  const untag = await bundleModulesRun(t, ['untag', 'no-such-layout', 'x']);
  assert.deepEqual(commandModules(untag.run), ['tag']);
  for (const args of [['--help'], ['-q', 'gc', 'x'], ['layot', 'x']]) {
    const all = commandModules((await bundleModulesRun(t, args)).run);
    for (const command of COMMAND_MODULES) {
      assert.ok(all.includes(command), `${args.join(' ')}: ${command} not initialised (${all.join(' ')})`);
    }
  }
});

test('the bundle\'s command run initialises no help layout (cliui, wrap-ansi, ansi-styles) until help is shown', async (t) => {
  const helpLayout = (run: string[]): string[] => run.filter((m) => /^node_modules\/(cliui|wrap-ansi|ansi-styles)\//.test(m));
  const layout = await bundleModulesRun(t, ['layout', 'out', '--add', `${HELLO}:/hello`, '--cmd', '/hello', '-q']);
  assert.equal(layout.status, 0);
  assert.ok(layout.run.includes('node_modules/yargs/build/index.cjs'), layout.run.join(' '));
  assert.deepEqual(helpLayout(layout.run), []);
  const help = await bundleModulesRun(t, ['gc', '--help']);
  assert.equal(help.status, 0);
  assert.ok(helpLayout(help.run).some((m) => m.startsWith('node_modules/wrap-ansi/')), help.run.join(' '));
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
