// A seeded mutator for the property tests: valid inputs (a docker-save archive, a layer tarball, a
// Dockerfile with its context) mutated by byte flips, truncations, splices, tar header corruptions
// and JSON field swaps, thrown at from-docker, layout --layer and Dockerfile builds. The property:
// success, or a UserError with nothing left behind; never another exception, exit 70 or a hang.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { buildImage } from '../src/build.js';
import { sha256 } from '../src/digest.js';
import { importDockerArchive } from '../src/docker/read.js';
import { buildDockerfile } from '../src/dockerfile/build.js';
import { isUserError } from '../src/errors.js';
import { BIN } from './helpers.js';
import { rawTar, type RawEntry } from './docker/make.js';

/** mulberry32: small, fast, and the same sequence from the same seed on every machine. */
export class Random {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

// ---------------------------------------------------------------------------------------------
// Inputs

const dir = (name: string): RawEntry => ({ name, type: 'directory' });

/** A layer tar that uses what real layers use: directories, files, links, a long (PAX) name, a whiteout. */
export async function sampleLayer(): Promise<Buffer> {
  return rawTar([
    dir('etc/'),
    { name: 'etc/hostname', data: 'box\n' },
    dir('usr/'),
    dir('usr/lib/'),
    { name: 'usr/lib/libz.so.1', data: 'ELF' },
    { name: 'lib', type: 'symlink', linkname: 'usr/lib' },
    { name: 'usr/lib/libz.so', type: 'link', linkname: 'usr/lib/libz.so.1' },
    { name: `usr/${'long-name-'.repeat(12)}`, data: 'pax' },
    { name: 'etc/.wh.gone', data: '' },
  ]);
}

/** A one-image docker-save archive (legacy layout, with repositories) around `layer`. */
export async function sampleArchive(layer: Buffer, config?: Buffer): Promise<Buffer> {
  const cfg = config ?? Buffer.from(JSON.stringify({
    architecture: 'amd64', os: 'linux', created: '1970-01-01T00:00:00Z',
    config: { Env: ['PATH=/bin'], Cmd: ['/bin/sh'], Labels: { a: 'b' } },
    rootfs: { type: 'layers', diff_ids: [sha256(layer)] },
    history: [{ created_by: 'x' }, { created_by: 'y', empty_layer: true }],
  }));
  const cfgName = `${sha256(cfg).slice(7)}.json`;
  const id = sha256(layer).slice(7);
  return rawTar([
    dir(`${id}/`),
    { name: `${id}/layer.tar`, data: layer },
    { name: `${id}/VERSION`, data: '1.0' },
    { name: cfgName, data: cfg },
    { name: 'manifest.json', data: JSON.stringify([{ Config: cfgName, RepoTags: ['fuzz:1'], Layers: [`${id}/layer.tar`] }]) },
    { name: 'repositories', data: JSON.stringify({ fuzz: { 1: id } }) },
  ]);
}

export const SAMPLE_DOCKERFILE = [
  '# syntax=docker/dockerfile:1',
  'ARG BASE=scratch',
  'FROM ${BASE} AS one',
  'ARG V=1.0',
  'ENV A=${V:-x} B="two words" C=${A}${A}',
  'LABEL org.example.v=${V:+set} k=${NOPE-default}',
  'WORKDIR /app/${V}',
  'COPY --chmod=0755 a.txt ./',
  'ADD layer.tar /rootfs/',
  'COPY <<EOT /greeting',
  'hello ${A}',
  'EOT',
  'USER 1000:1000',
  'ARG P=8080',
  'EXPOSE 80/tcp ${P}',
  'FROM scratch',
  'COPY --from=one /app /app',
  'COPY --from=one /rootfs /r',
  'CMD ["/bin/sh", "-c", "echo $A"]',
  'ENTRYPOINT ["/x"]',
  '',
].join('\n');

export const SAMPLE_IGNORE = '*.log\n!keep.log\n**/tmp\nsub/*/x?\n[a-c]*.bak\n';

// ---------------------------------------------------------------------------------------------
// Mutations

const INTERESTING = [0, 1, 0x7f, 0x80, 0xff, 0x2f, 0x2e, 0x00, 0x30, 0x37];

/** Byte-level damage: flips, interesting bytes, truncation, splices, cuts. */
export function mutateBytes(r: Random, input: Buffer): Buffer {
  let b = Buffer.from(input);
  const rounds = 1 + r.int(3);
  for (let k = 0; k < rounds; k++) {
    switch (r.int(5)) {
      case 0:
        for (let i = 0, n = 1 + r.int(4); i < n && b.length > 0; i++) {
          const at = r.int(b.length);
          b[at] = b[at]! ^ (1 << r.int(8));
        }
        break;
      case 1:
        for (let i = 0, n = 1 + r.int(4); i < n && b.length > 0; i++) b[r.int(b.length)] = r.pick(INTERESTING);
        break;
      case 2:
        b = b.subarray(0, r.int(b.length + 1));
        break;
      case 3: {
        if (b.length === 0) break;
        const from = r.int(b.length);
        const len = r.int(Math.min(1024, b.length - from) + 1);
        const at = r.int(b.length + 1);
        b = Buffer.concat([b.subarray(0, at), b.subarray(from, from + len), b.subarray(at)]);
        break;
      }
      case 4: {
        const from = r.int(b.length + 1);
        b = Buffer.concat([b.subarray(0, from), b.subarray(from + r.int(600))]);
        break;
      }
    }
  }
  return b;
}

/** Damage one tar header field, usually with the checksum fixed up so that the damage gets read. */
export function mutateTarHeader(r: Random, input: Buffer): Buffer {
  const b = Buffer.from(input);
  const headers: number[] = [];
  for (let at = 0; at + 512 <= b.length; at += 512) {
    if (b.subarray(at + 257, at + 262).toString('latin1') === 'ustar') headers.push(at);
  }
  if (headers.length === 0) return mutateBytes(r, input);
  const at = r.pick(headers);
  const fields: Array<[number, number]> = [[0, 100], [100, 8], [108, 8], [116, 8], [124, 12], [136, 12], [156, 1], [157, 100], [345, 155]];
  const [off, len] = r.pick(fields);
  const values = [
    '', '/', '..', '../../etc/passwd', '/etc/shadow', 'a/../../b', '\u0000', '7777777777777', '-1', 'zzzz', '99999999999',
    ' 0', 'x', 'L', 'K', 'g', 'S', '2', '1', '5', '6', '3', `${'a/'.repeat(60)}`, '\u00ff\u00fe', 'lib/x', 'usr/lib',
  ];
  const value = Buffer.from(r.pick(values), 'latin1');
  b.fill(0, at + off, at + off + len);
  value.copy(b, at + off, 0, Math.min(len, value.length));
  if (r.chance(0.8)) {
    b.fill(0x20, at + 148, at + 156);
    let sum = 0;
    for (let i = at; i < at + 512; i++) sum += b[i]!;
    b.write(`${sum.toString(8).padStart(6, '0')}\0 `, at + 148, 'latin1');
  }
  return b;
}

const JSON_VALUES: unknown[] = [null, [], {}, '', -1, 0, 1e308, 'sha256:../x', `sha256:${'A'.repeat(64)}`, '../../etc', '/abs', [null], { a: [{}] }, true, 'x'.repeat(300)];

type Slot = { parent: Record<string, unknown> | unknown[]; key: string | number };

/** Change a JSON document: a value replaced, removed, or two values swapped. */
export function mutateJson(r: Random, text: Buffer): Buffer {
  let doc: unknown;
  try {
    doc = JSON.parse(text.toString('utf8'));
  } catch {
    return mutateBytes(r, text);
  }
  const slots: Slot[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) {
      v.forEach((x, i) => {
        slots.push({ parent: v, key: i });
        walk(x);
      });
    } else if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        slots.push({ parent: v as Record<string, unknown>, key: k });
        walk(x);
      }
    }
  };
  walk(doc);
  if (slots.length === 0) return Buffer.from(JSON.stringify(r.pick(JSON_VALUES)));
  const s = r.pick(slots);
  const get = (x: Slot): unknown => (x.parent as Record<string | number, unknown>)[x.key];
  const set = (x: Slot, v: unknown): void => {
    (x.parent as Record<string | number, unknown>)[x.key] = v;
  };
  switch (r.int(3)) {
    case 0:
      set(s, r.pick(JSON_VALUES));
      break;
    case 1:
      if (Array.isArray(s.parent)) s.parent.splice(s.key as number, 1);
      else delete s.parent[s.key as string];
      break;
    default: {
      const other = r.pick(slots);
      const v = get(s);
      set(s, get(other));
      set(other, v);
    }
  }
  return Buffer.from(JSON.stringify(doc));
}

/** Damage a Dockerfile or .dockerignore as text: syntax characters put in, lines dropped or repeated. */
export function mutateText(r: Random, text: string): string {
  const syntax = ['$', '{', '}', ':', '-', '+', '?', '\\', '"', "'", '[', ']', '\n', '#', '=', '*', '!', '/', '.', '<<', '${A:-${B:-', ' ', '\t', '\u0000', '**/', '`', '..', '--from=0 '];
  let lines = text.split('\n');
  const rounds = 1 + r.int(4);
  for (let k = 0; k < rounds; k++) {
    const i = r.int(lines.length);
    const line = lines[i] ?? '';
    const at = r.int(line.length + 1);
    switch (r.int(4)) {
      case 0:
        lines[i] = line.slice(0, at) + r.pick(syntax) + line.slice(at);
        break;
      case 1:
        lines.splice(i, 1);
        break;
      case 2:
        lines.splice(i, 0, lines[r.int(lines.length)] ?? '');
        break;
      default:
        lines[i] = line.slice(0, at) + line.slice(at + 1 + r.int(4));
    }
  }
  if (lines.length === 0) lines = [''];
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Targets and the property

export type Target = 'from-docker' | 'layer' | 'dockerfile';
export const TARGETS: readonly Target[] = ['from-docker', 'layer', 'dockerfile'];

export interface Corpus {
  layer: Buffer;
  archive: Buffer;
}

export async function corpus(): Promise<Corpus> {
  const layer = await sampleLayer();
  return { layer, archive: await sampleArchive(layer) };
}

interface CaseInput {
  bytes: Buffer;
  dockerfile?: string;
  ignore?: string;
}

/** One mutated input for `target`, from the case's own seed alone. */
export async function mutatedCase(target: Target, seed: number, c: Corpus): Promise<CaseInput> {
  const r = new Random(seed);
  if (target === 'layer') {
    const bytes = r.chance(0.5) ? mutateTarHeader(r, c.layer) : mutateBytes(r, c.layer);
    return { bytes: r.chance(0.2) ? gzipSync(bytes) : bytes };
  }
  if (target === 'from-docker') {
    switch (r.int(4)) {
      case 0:
        return { bytes: mutateBytes(r, c.archive) };
      case 1:
        return { bytes: mutateTarHeader(r, c.archive) };
      case 2: // a damaged layer in a well-formed archive whose diff_ids follow it, so that it is read
        return { bytes: await sampleArchive(r.chance(0.5) ? mutateTarHeader(r, c.layer) : mutateBytes(r, c.layer)) };
      default: { // a damaged config, named for its digest
        const cfg = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(c.layer)] }, config: { Env: ['A=1'] }, history: [{ created_by: 'x' }] }));
        return { bytes: await sampleArchive(c.layer, mutateJson(r, cfg)) };
      }
    }
  }
  return {
    dockerfile: r.chance(0.85) ? mutateText(r, SAMPLE_DOCKERFILE) : SAMPLE_DOCKERFILE,
    ignore: r.chance(0.5) ? mutateText(r, SAMPLE_IGNORE) : SAMPLE_IGNORE,
    bytes: r.chance(0.3) ? mutateTarHeader(r, c.layer) : c.layer,
  };
}

/** The case's inputs on disk in `work`: the file to read, or the build context. */
async function materialise(target: Target, input: CaseInput, work: string): Promise<string> {
  await fs.mkdir(work, { recursive: true });
  if (target !== 'dockerfile') {
    const file = path.join(work, 'input.tar');
    await fs.writeFile(file, input.bytes);
    return file;
  }
  const context = path.join(work, 'ctx');
  await fs.mkdir(path.join(context, 'sub', 'd'), { recursive: true });
  await fs.writeFile(path.join(context, 'Dockerfile'), input.dockerfile ?? '');
  await fs.writeFile(path.join(context, '.dockerignore'), input.ignore ?? '');
  await fs.writeFile(path.join(context, 'a.txt'), 'a');
  await fs.writeFile(path.join(context, 'keep.log'), 'k');
  await fs.writeFile(path.join(context, 'sub', 'd', 'x1'), 'x');
  await fs.writeFile(path.join(context, 'layer.tar'), input.bytes);
  return context;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms (a hang)`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** What a failed case needs to be run again alone. */
export function reproduce(target: Target, seed: number): string {
  return `target ${target}, case seed ${seed} (run it alone: FUZZ_CASE_SEED=${seed} FUZZ_TARGET=${target})`;
}

/**
 * One case in this process: success or a UserError of one line, within `timeoutMs`. Refused, it
 * leaves no layout behind (the target did not exist); accepted, no temp file in the layout.
 */
export async function runCase(target: Target, seed: number, c: Corpus, work: string, timeoutMs: number): Promise<'ok' | 'refused'> {
  const input = await mutatedCase(target, seed, c);
  const source = await materialise(target, input, work);
  const layout = path.join(work, 'out');
  const run = (): Promise<unknown> => {
    switch (target) {
      case 'from-docker':
        return importDockerArchive(Readable.from([input.bytes]), layout, { compression: 'none', where: 'archive' });
      case 'layer':
        return buildImage({ layout, layers: [{ kind: 'tarball', path: source }], compression: 'none', tags: ['f:1'] });
      case 'dockerfile':
        return buildDockerfile({ layout, context: source, platform: { os: 'linux', architecture: 'amd64' }, tags: ['f:1'], compression: 'none' });
    }
  };
  let outcome: 'ok' | 'refused';
  try {
    await withTimeout(run(), timeoutMs, reproduce(target, seed));
    outcome = 'ok';
  } catch (err) {
    if (!isUserError(err)) assert.fail(`${reproduce(target, seed)}: not a UserError: ${err instanceof Error ? err.stack : String(err)}`);
    assert.doesNotMatch(err.message, /\n/, `${reproduce(target, seed)}: a message of more than one line`);
    outcome = 'refused';
  }
  const left = await fs.readdir(layout).catch(() => undefined);
  if (outcome === 'refused') assert.equal(left, undefined, `${reproduce(target, seed)}: refused, but left ${JSON.stringify(left)}`);
  else assert.deepEqual(left?.filter((n) => n.startsWith('.oci-pack-')), [], `${reproduce(target, seed)}: temp files left`);
  await fs.rm(work, { recursive: true, force: true });
  return outcome;
}

/** One case through the executable: exit 0, 1 or 2, one line on stderr when not 0, no layout left. */
export async function runCliCase(target: Target, seed: number, c: Corpus, work: string, timeoutMs: number): Promise<number> {
  const input = await mutatedCase(target, seed, c);
  const source = await materialise(target, input, work);
  const layout = path.join(work, 'out');
  const args = target === 'from-docker'
    ? ['from-docker', source, layout, '--compression', 'none']
    : target === 'layer'
      ? ['layout', layout, '--layer', source, '--compression', 'none']
      : ['layout', layout, '--context', source, '--platform', 'linux/amd64', '--compression', 'none'];
  const result = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'], timeout: timeoutMs, killSignal: 'SIGKILL' });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code, signal) => resolve({ code, signal, stderr }));
  });
  const what = `${reproduce(target, seed)}, through the CLI`;
  assert.equal(result.signal, null, `${what}: killed by ${result.signal} (a hang past ${timeoutMs} ms?)\n${result.stderr}`);
  assert.ok(result.code === 0 || result.code === 1 || result.code === 2, `${what}: exit ${result.code}\n${result.stderr}`);
  if (result.code !== 0) {
    assert.match(result.stderr.replace(/^oci-pack: warning: .*\n/gm, ''), /^oci-pack: [^\n]*\n$/, `${what}: not one line`);
    assert.equal(await fs.stat(layout).then(() => true, () => false), false, `${what}: refused, but left a layout`);
  }
  await fs.rm(work, { recursive: true, force: true });
  return result.code!;
}

/**
 * The run: a fixed seed (FUZZ_SEED overrides it), each case seeded by the seed, the tier's offset
 * and its number; FUZZ_CASE_SEED and FUZZ_TARGET replay one failed case alone.
 */
export function plan(casesPerTarget: number, offset: number): { targets: readonly Target[]; cases: number; seed: number; seedOf: (i: number) => number } {
  const number = (name: string) => (/^\d+$/.test(process.env[name] ?? '') ? Number(process.env[name]) : undefined);
  const seed = number('FUZZ_SEED') ?? 20261202;
  const only = number('FUZZ_CASE_SEED');
  const target = TARGETS.find((t) => t === process.env.FUZZ_TARGET);
  return {
    targets: target ? [target] : TARGETS,
    cases: only !== undefined ? 1 : number('FUZZ_CASES') ?? casesPerTarget,
    seed,
    seedOf: (i) => only ?? seed + offset + i,
  };
}
