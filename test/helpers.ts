// Shared test helpers: temp dirs, running the CLI in-process or as the real executable, snapshots
// of a directory (to prove a failed command changed nothing), and the consumer tools' presence.
import { createHash, randomBytes } from 'node:crypto';
import { execFile, spawnSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { UserError } from '../src/errors.js';

export const execFileP = promisify(execFile);

/** The repository root (tests run from dist/test/). */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = path.join(ROOT, 'dist', 'src', 'cli', 'bin.js');
export const HELLO = path.join(ROOT, 'fixtures', 'hello', 'hello');
export const HELLO_LINE = 'Hello from oci-pack!';
export const CI = /^(1|true|yes)$/i.test(process.env.CI ?? '');

/** A fresh directory, removed after the test; lowercase, because podman derives image names from paths. */
export async function tempDir(t: TestContext | undefined, prefix = 'oci-pack-test-'): Promise<string> {
  const dir = path.join(os.tmpdir(), `${prefix}${randomBytes(6).toString('hex')}`);
  await fs.mkdir(dir, { mode: 0o700 });
  t?.after(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

export interface CliResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Run the CLI in this process (fast; same code path as the executable but for process.exit). */
export async function cli(...argv: string[]): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const { main } = await import('../src/cli/main.js');
  const status = await main(argv, {
    stdout: (t) => void (stdout += t),
    stderr: (t) => void (stderr += t),
    stderrIsTty: false,
  });
  return { status, stdout, stderr };
}

/** Run the real executable (for exit codes, stdin/stdout streaming and environment). */
export function runBin(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; uid?: number; gid?: number; input?: Buffer } = {}): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    env: { ...process.env, ...(opts.env ?? {}) },
    cwd: opts.cwd ?? ROOT,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    ...(opts.uid !== undefined ? { uid: opts.uid } : {}),
    ...(opts.gid !== undefined ? { gid: opts.gid } : {}),
    ...(opts.input ? { input: opts.input } : {}),
  });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Every file under dir with its type, mode, size and content hash: equal snapshots mean nothing changed. */
export async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  async function walk(d: string): Promise<void> {
    let names: string[];
    try {
      names = (await fs.readdir(d)).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for (const name of names) {
      const p = path.join(d, name);
      const st = await fs.lstat(p);
      const rel = path.relative(dir, p);
      if (st.isDirectory()) {
        out[rel] = `dir ${(st.mode & 0o7777).toString(8)}`;
        await walk(p);
      } else if (st.isSymbolicLink()) {
        out[rel] = `link ${await fs.readlink(p)}`;
      } else {
        const h = createHash('sha256').update(await fs.readFile(p)).digest('hex');
        out[rel] = `file ${(st.mode & 0o7777).toString(8)} ${st.size} ${h}`;
      }
    }
  }
  await walk(dir);
  return out;
}

export function haveCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/**
 * Whether a consumer tool can be used. Missing: the test skips on a user's machine, but under
 * CI=true a missing tool is a failure, never a silent skip.
 */
export function requireTool(t: TestContext, tool: string, check?: () => boolean): boolean {
  const ok = haveCommand(tool) && (check ? check() : true);
  if (ok) return true;
  if (CI) throw new Error(`${tool} is not available, and CI=true allows no skip (run ../shared/oracle/install-tools)`);
  t.skip(`${tool} not available`);
  return false;
}

export function dockerRunning(): boolean {
  return spawnSync('docker', ['info'], { stdio: 'ignore', timeout: 20_000 }).status === 0;
}

/** Run a command; throws with its stderr when it fails. */
export async function run(cmd: string, args: string[], opts: { cwd?: string; timeout?: number } = {}): Promise<string> {
  try {
    const r = await execFileP(cmd, args, { maxBuffer: 256 * 1024 * 1024, timeout: opts.timeout ?? 300_000, ...(opts.cwd ? { cwd: opts.cwd } : {}) });
    return r.stdout;
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${e.stderr || e.stdout || e.message}`);
  }
}

export async function readJson(file: string): Promise<unknown> {
  return JSON.parse(await fs.readFile(file, 'utf8'));
}

/** Podman flags this machine needs (its default rlimits exceed what a container may set here). */
export const PODMAN_RUN = ['run', '--rm', '--network', 'none', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=4096:4096'];

/**
 * `podman run` of an image, its stdout. Where podman cannot start a container on this machine
 * (crun refuses hybrid cgroups; a rootless user without subuids), the test skips with podman's
 * reason, as for a missing tool; under CI=true that is a failure.
 */
export async function podmanRun(t: TestContext, image: string, ci = CI): Promise<string | undefined> {
  try {
    return await run('podman', [...PODMAN_RUN, image]);
  } catch (err) {
    const message = (err as Error).message;
    const reason = /(OCI runtime[^\n]*|crun:[^\n]*|cgroups?[^\n]*|newuidmap[^\n]*|cannot set up namespace[^\n]*)/i.exec(message);
    if (ci || !reason) throw err;
    t.skip(`podman cannot start a container here: ${reason[1]!.trim()}`);
    return undefined;
  }
}

export interface ListedEntry {
  name: string;
  type: 'file' | 'dir' | 'symlink' | 'link' | 'char' | 'block' | 'fifo' | 'other';
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  mtime: number;
  size: number;
  linkname: string;
  /** The raw typeflag character ('0', '5', '2', ...). */
  typeflag: string;
  devmajor: number;
  devminor: number;
  /** SCHILY.xattr.* records by attribute name, values as hex of their raw bytes. */
  xattrs: Record<string, string>;
  sha256?: string;
  pax: Record<string, string>;
}

const LIST_TAR = `
import hashlib, json, math, sys, tarfile
out = []
with tarfile.open(sys.argv[1], 'r:*') as tf:
    for m in tf:
        t = 'file' if m.isreg() else 'dir' if m.isdir() else 'symlink' if m.issym() else 'link' if m.islnk() \\
            else 'char' if m.ischr() else 'block' if m.isblk() else 'fifo' if m.isfifo() else 'other'
        e = dict(name=m.name, type=t, mode=m.mode, uid=m.uid, gid=m.gid, uname=m.uname, gname=m.gname,
                 mtime=math.floor(m.mtime), size=m.size, linkname=m.linkname,
                 typeflag=m.type.decode('latin1'), devmajor=m.devmajor, devminor=m.devminor,
                 xattrs={k[13:]: v.encode('utf-8', 'surrogateescape').hex()
                         for k, v in m.pax_headers.items() if k.startswith('SCHILY.xattr.')},
                 pax={k: v for k, v in m.pax_headers.items()})
        if m.isreg():
            h = hashlib.sha256()
            f = tf.extractfile(m)
            for b in iter(lambda: f.read(1 << 20), b''):
                h.update(b)
            e['sha256'] = h.hexdigest()
        out.append(e)
json.dump(out, sys.stdout)
`;

/** The entries of a tar (any compression python knows), read by python's tarfile: an independent reader. */
export async function listTar(file: string): Promise<ListedEntry[]> {
  return JSON.parse(await run('python3', ['-c', LIST_TAR, file])) as ListedEntry[];
}

/** The blob file of a digest in a layout. */
export function blobFile(layout: string, digest: string): string {
  return path.join(layout, 'blobs', 'sha256', digest.replace(/^sha256:/, ''));
}

/** Manifest, config and layer descriptors of the image tagged `ref` in a layout (read directly from disk). */
export async function readImage(layout: string, ref: string): Promise<{
  index: { manifests: Array<{ digest: string; size: number; annotations?: Record<string, string>; platform?: unknown }> };
  manifestDigest: string;
  manifest: { config: { digest: string; size: number }; layers: Array<{ digest: string; size: number; mediaType: string }>; annotations?: Record<string, string> };
  config: { architecture: string; os: string; created: string; config: Record<string, unknown>; rootfs: { diff_ids: string[] }; history: Array<Record<string, unknown>> };
}> {
  const index = (await readJson(path.join(layout, 'index.json'))) as { manifests: Array<{ digest: string; size: number; annotations?: Record<string, string> }> };
  const entry = index.manifests.find((d) => d.annotations?.['org.opencontainers.image.ref.name'] === ref);
  if (!entry) throw new Error(`${ref} not in ${layout}/index.json`);
  const manifest = (await readJson(blobFile(layout, entry.digest))) as never as { config: { digest: string; size: number }; layers: Array<{ digest: string; size: number; mediaType: string }> };
  const config = (await readJson(blobFile(layout, manifest.config.digest))) as never;
  return { index: index as never, manifestDigest: entry.digest, manifest, config };
}

let busybox: Promise<string> | undefined;
/**
 * A small base rootfs tarball made from Debian's busybox-static (fixtures/busybox/make-rootfs.sh),
 * built once per test process; the .deb is cached in the temp dir across runs. Needs apt-get and
 * dpkg-deb: skips where they are missing, fails under CI.
 */
export async function busyboxRootfs(t: TestContext): Promise<string | undefined> {
  if (!requireTool(t, 'dpkg-deb') || !requireTool(t, 'apt-get')) return undefined;
  busybox ??= (async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'oci-pack-busybox-'));
    const out = path.join(dir, 'rootfs.tar');
    await run('bash', [path.join(ROOT, 'fixtures', 'busybox', 'make-rootfs.sh'), out, path.join(os.tmpdir(), 'oci-pack-deb-cache')]);
    process.on('exit', () => spawnSync('rm', ['-rf', dir]));
    return out;
  })();
  try {
    return await busybox;
  } catch (err) {
    if (CI) throw err;
    t.skip(`busybox rootfs unavailable: ${(err as Error).message.split('\n')[0]}`);
    return undefined;
  }
}

/** assert.throws for a usage error (a UserError with code EUSAGE) whose message matches. */
export function assertUsage(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof UserError, `expected a UserError, got ${String(err)}`);
    assert.equal(err.code, 'EUSAGE');
    assert.match(err.message, pattern);
    return true;
  });
}

/** A sparse file of `size` bytes holding one "x" at `at`: what tar --sparse archives as sparse. */
export async function sparseFile(file: string, size: number, at: number): Promise<void> {
  await run('truncate', ['-s', String(size), file]);
  const fd = await fs.open(file, 'r+');
  try {
    await fd.write(Buffer.from('x'), 0, 1, at);
  } finally {
    await fd.close();
  }
}

/** After twenty writers tagged w:0..w:19 into `out`: every tag there, the layout valid, nothing left behind. */
export async function assertTwentyTagged(out: string): Promise<void> {
  const { Layout, refNameOf } = await import('../src/layout.js');
  const { validate } = await import('../src/validate.js');
  const index = await (await Layout.open(out)).readIndex();
  const tags = index.manifests.map(refNameOf).filter((x) => x?.startsWith('w:')).sort();
  assert.deepEqual(tags, Array.from({ length: 20 }, (_, i) => `w:${i}`).sort());
  assert.deepEqual((await validate(out)).problems, []);
  const leftovers = (await fs.readdir(out)).filter((n) => n.startsWith('.oci-pack-') || n.endsWith('.lock'));
  assert.deepEqual(leftovers, []);
}
