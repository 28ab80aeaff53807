// Image documents from descriptors: the config (runtime settings, history, rootfs.diff_ids) and the
// manifest, with the checks that turn a malformed setting into a clear error. No files, no bytes.
import { constants as osConstants } from 'node:os';
import type { Digest } from './digest.js';
import { MediaType, plainDescriptor, type Descriptor, type LayerDescriptor, type Platform } from './descriptor.js';
import { usageError } from './errors.js';

export interface HealthConfig {
  Test?: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}

/** The runtime settings of an image (the config's `config` object), in docker's field names. */
export interface RuntimeConfig {
  User?: string;
  ExposedPorts?: Record<string, Record<string, never>>;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Volumes?: Record<string, Record<string, never>>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
  ArgsEscaped?: boolean;
  Healthcheck?: HealthConfig;
  Shell?: string[];
  OnBuild?: string[] | null;
  [other: string]: unknown;
}

export interface HistoryEntry {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

export interface ImageConfig {
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
  config?: RuntimeConfig;
  rootfs: { type: 'layers'; diff_ids: Digest[] };
  history?: HistoryEntry[];
  [other: string]: unknown;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
  artifactType?: string;
  subject?: Descriptor;
}

/** Changes to the runtime settings, as the CLI flags and the Dockerfile front end give them. */
export interface ConfigChanges {
  entrypoint?: string[];
  cmd?: string[];
  /** "KEY=value"; a key already set is replaced in place. */
  env?: string[];
  workdir?: string;
  user?: string;
  /** "80", "53/udp", "8000-8002/tcp". */
  expose?: string[];
  labels?: Record<string, string>;
  volumes?: string[];
  stopSignal?: string;
  healthcheck?: HealthConfig;
  shell?: string[];
  onBuild?: string[];
  argsEscaped?: boolean;
}

/** "1970-01-01T00:00:00Z" style, whole seconds, as the config's `created` and history times. */
export function isoTime(epochSeconds: number): string {
  return new Date(epochSeconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Apply `changes` to a copy of `base` (docker's rules: Env by key, Labels, ports and volumes merged). */
export function applyConfigChanges(base: RuntimeConfig, changes: ConfigChanges): RuntimeConfig {
  const out: RuntimeConfig = structuredClone(base);
  if (changes.env) {
    const env = [...(out.Env ?? [])];
    for (const kv of changes.env) {
      const key = checkKeyValue(kv, '--env').key;
      const i = env.findIndex((e) => e.split('=', 1)[0] === key);
      if (i >= 0) env[i] = kv;
      else env.push(kv);
    }
    out.Env = env;
  }
  if (changes.entrypoint) out.Entrypoint = [...changes.entrypoint];
  if (changes.cmd) out.Cmd = [...changes.cmd];
  if (changes.workdir !== undefined) {
    if (!changes.workdir.startsWith('/')) throw usageError(`--workdir ${changes.workdir}: must be an absolute path`);
    out.WorkingDir = changes.workdir;
  }
  if (changes.user !== undefined) {
    if (changes.user === '' || /\s/.test(changes.user)) throw usageError(`--user ${JSON.stringify(changes.user)}: expected USER, UID, USER:GROUP or UID:GID`);
    out.User = changes.user;
  }
  if (changes.expose) {
    const ports = { ...(out.ExposedPorts ?? {}) };
    for (const p of changes.expose) ports[parsePort(p)] = {};
    out.ExposedPorts = ports;
  }
  if (changes.labels) out.Labels = { ...(out.Labels ?? {}), ...changes.labels };
  if (changes.volumes) {
    const vols = { ...(out.Volumes ?? {}) };
    for (const v of changes.volumes) {
      if (!v.startsWith('/')) throw usageError(`--volume ${v}: must be an absolute path`);
      vols[v] = {};
    }
    out.Volumes = vols;
  }
  if (changes.stopSignal !== undefined) out.StopSignal = checkSignal(changes.stopSignal);
  if (changes.healthcheck) out.Healthcheck = changes.healthcheck;
  if (changes.shell) out.Shell = [...changes.shell];
  if (changes.onBuild) out.OnBuild = [...(out.OnBuild ?? []), ...changes.onBuild];
  if (changes.argsEscaped !== undefined) out.ArgsEscaped = changes.argsEscaped;
  return out;
}

/** "KEY=value" split at the first "="; the key must be non-empty. */
export function checkKeyValue(kv: string, flag: string): { key: string; value: string } {
  const i = kv.indexOf('=');
  if (i <= 0) throw usageError(`${flag} ${JSON.stringify(kv)}: expected KEY=VALUE`);
  return { key: kv.slice(0, i), value: kv.slice(i + 1) };
}

/** KEY=VALUE pairs into an object (labels, annotations), later keys winning. */
export function keyValues(pairs: readonly string[], flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of pairs) {
    const { key, value } = checkKeyValue(kv, flag);
    out[key] = value;
  }
  return out;
}

/** "80" → "80/tcp"; "53/udp"; a range "8000-8002" as docker records it. */
export function parsePort(text: string): string {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?(?:\/(tcp|udp|sctp))?$/i.exec(text.trim());
  const bad = () => usageError(`--expose ${text}: expected PORT[/tcp|/udp|/sctp] with a port from 1 to 65535`);
  if (!m) throw bad();
  const lo = Number(m[1]);
  const hi = m[2] === undefined ? lo : Number(m[2]);
  if (lo < 1 || lo > 65535 || hi < lo || hi > 65535) throw bad();
  const proto = (m[3] ?? 'tcp').toLowerCase();
  return `${m[2] === undefined ? lo : `${lo}-${hi}`}/${proto}`;
}

/** A signal name (SIGTERM, TERM, SIGRTMIN+3) or number, as docker's STOPSIGNAL takes it. */
export function checkSignal(text: string): string {
  if (/^\d+$/.test(text) && Number(text) >= 1 && Number(text) <= 64) return text;
  const name = text.toUpperCase().startsWith('SIG') ? text.toUpperCase() : `SIG${text.toUpperCase()}`;
  if (name in osConstants.signals || /^SIGRT(MIN|MAX)([+-]\d{1,2})?$/.test(name)) return text;
  throw usageError(`--stop-signal ${text}: not a signal name or number`);
}

export interface ConfigInput {
  /** The config the image starts from (a base image's), or undefined for scratch. */
  base?: ImageConfig;
  platform: Platform;
  /** Seconds since the epoch, for `created` and history. */
  created: number;
  runtime: RuntimeConfig;
  /** All the image's layers, base layers first. */
  layers: readonly LayerDescriptor[];
  /** The history of the new image (base history first). */
  history: HistoryEntry[];
}

export function createConfig(input: ConfigInput): ImageConfig {
  const cfg: ImageConfig = {
    ...(input.base ? structuredClone(input.base) : {}),
    architecture: input.platform.architecture,
    os: input.platform.os,
    created: isoTime(input.created),
    config: input.runtime,
    rootfs: { type: 'layers', diff_ids: input.layers.map((l) => l.diffId) },
    history: input.history,
  };
  if (input.platform.variant) cfg.variant = input.platform.variant;
  else delete cfg.variant;
  if (input.platform['os.version']) cfg['os.version'] = input.platform['os.version'];
  if (input.platform['os.features']) cfg['os.features'] = input.platform['os.features'];
  return cfg;
}

export function createManifest(config: Descriptor, layers: readonly Descriptor[], annotations?: Record<string, string>): ImageManifest {
  const m: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.manifest,
    config: plainDescriptor(config),
    layers: layers.map(plainDescriptor),
  };
  if (annotations && Object.keys(annotations).length > 0) m.annotations = { ...annotations };
  return m;
}

/** The platform an image's config declares. */
export function configPlatform(cfg: ImageConfig): Platform {
  const p: Platform = { architecture: cfg.architecture, os: cfg.os };
  if (cfg.variant) p.variant = cfg.variant;
  if (cfg['os.version']) p['os.version'] = cfg['os.version'];
  return p;
}
