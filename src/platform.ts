// Platforms in OCI names (GOOS/GOARCH plus a variant): parsing --platform with containerd's
// normalisation, this host's platform, and choosing an image index entry for a wanted platform.
import { endianness } from 'node:os';
import { UserError, usageError } from './errors.js';
import type { Platform } from './descriptor.js';

export type { Platform };

/** GOOS values from Go's go/build/syslist.go, which the image-spec points to. */
const KNOWN_OS: ReadonlySet<string> = new Set([
  'aix', 'android', 'darwin', 'dragonfly', 'freebsd', 'hurd', 'illumos', 'ios', 'js', 'linux', 'nacl',
  'netbsd', 'openbsd', 'plan9', 'solaris', 'wasip1', 'windows', 'zos',
]);

/** GOARCH values from Go's go/build/syslist.go. */
const KNOWN_ARCH: ReadonlySet<string> = new Set([
  '386', 'amd64', 'amd64p32', 'arm', 'armbe', 'arm64', 'arm64be', 'loong64', 'mips', 'mipsle', 'mips64',
  'mips64le', 'mips64p32', 'mips64p32le', 'ppc', 'ppc64', 'ppc64le', 'riscv', 'riscv64', 's390', 's390x',
  'sparc', 'sparc64', 'wasm',
]);

/** containerd's specifier component: what may stand between the slashes of OS/ARCH/VARIANT. */
const COMPONENT_RE = /^[A-Za-z0-9_.-]+$/;

/**
 * The variants a few architectures define (image-spec "Platform Variants"); a typo there would
 * make an image no engine selects. Other architectures' variants are free-form.
 */
const VARIANT_RULES: Readonly<Record<string, { re: RegExp; expected: string }>> = {
  arm: { re: /^v[5-8]$/, expected: 'v5, v6, v7 or v8' },
  arm64: { re: /^v(?:8|9)(?:\.[0-9]+)?$/, expected: 'v8, v8.1 ... v9, v9.1 ...' },
  amd64: { re: /^v[1-4]$/, expected: 'v1, v2, v3 or v4' },
};

/** The variant an architecture means when it names none (containerd's matching rules). */
const DEFAULT_VARIANT: Readonly<Record<string, string>> = { arm: 'v7', arm64: 'v8', amd64: 'v1' };

function normalizeOs(os: string): string {
  const lower = os.toLowerCase();
  return lower === 'macos' ? 'darwin' : lower;
}

/**
 * containerd's normalizeArch: aliases to Go names, and each architecture's variant in its
 * canonical spelling (arm always carries one, default v7; arm64 v8 and amd64 v1 carry none).
 */
function normalizeArch(architecture: string, variant: string): { architecture: string; variant: string } {
  let arch = architecture.toLowerCase();
  let v = variant.toLowerCase();
  switch (arch) {
    case 'i386':
      arch = '386';
      v = '';
      break;
    case 'x86_64':
    case 'x86-64':
    case 'amd64':
      arch = 'amd64';
      if (v === 'v1') v = '';
      break;
    case 'aarch64':
    case 'arm64':
      arch = 'arm64';
      if (v === '8' || v === 'v8' || v === 'v8.0') v = '';
      else if (v === '9' || v === '9.0' || v === 'v9.0') v = 'v9';
      break;
    case 'armhf':
      arch = 'arm';
      v = 'v7';
      break;
    case 'armel':
      arch = 'arm';
      v = 'v6';
      break;
    case 'arm':
      if (v === '' || v === '7') v = 'v7';
      else if (v === '5' || v === '6' || v === '8') v = `v${v}`;
      break;
  }
  return { architecture: arch, variant: v };
}

function makePlatform(os: string, architecture: string, variant: string): Platform {
  const platform: Platform = { architecture, os };
  if (variant !== '') platform.variant = variant;
  return platform;
}

/** A platform in canonical names, as containerd normalises one: for comparing, not validating. */
export function normalizePlatform(p: Platform): Platform {
  const { architecture, variant } = normalizeArch(p.architecture, p.variant ?? '');
  const out = makePlatform(normalizeOs(p.os), architecture, variant);
  if (p['os.version'] !== undefined) out['os.version'] = p['os.version'];
  if (p['os.features'] !== undefined) out['os.features'] = p['os.features'];
  return out;
}

/**
 * Parse `OS/ARCH[/VARIANT]` ("linux/arm64", "linux/arm/v7", "Linux/x86_64") into a normalised
 * platform whose OS and architecture are Go names. `what` names the flag in errors.
 */
export function parsePlatform(text: string, what = '--platform'): Platform {
  const fail = (why: string): UserError => usageError(`${what}: ${JSON.stringify(text)}: ${why}`);
  const parts = text.split('/');
  if (parts.length < 2) throw fail('expected OS/ARCH[/VARIANT], e.g. linux/amd64 or linux/arm/v7');
  if (parts.length > 3) throw fail('has more than 3 parts: expected OS/ARCH[/VARIANT]');
  const [osText = '', archText = '', variantText] = parts;
  for (const [name, part] of [['OS', osText], ['architecture', archText], ['variant', variantText]] as const) {
    if (part === undefined) continue;
    if (part === '') throw fail(`the ${name} is empty: expected OS/ARCH[/VARIANT]`);
    if (!COMPONENT_RE.test(part)) throw fail(`the ${name} ${JSON.stringify(part)} may only hold letters, digits, '_', '.' and '-'`);
  }

  const os = normalizeOs(osText);
  if (!KNOWN_OS.has(os)) {
    throw fail(`unknown OS ${JSON.stringify(osText)}: expected a Go GOOS name such as linux, windows or freebsd`);
  }
  const implied = impliedVariant(archText.toLowerCase());
  if (implied !== undefined && variantText !== undefined && normalizeArch('arm', variantText).variant !== implied) {
    throw fail(`${archText} means arm/${implied}, which contradicts the variant ${JSON.stringify(variantText)}`);
  }
  const { architecture, variant } = normalizeArch(archText, variantText ?? '');
  if (!KNOWN_ARCH.has(architecture)) {
    throw fail(
      `unknown architecture ${JSON.stringify(archText)}: expected a Go GOARCH name such as amd64, arm64, arm, 386, ` +
        'ppc64le, s390x or riscv64 (x86_64, aarch64, armhf, armel and i386 are understood too)',
    );
  }
  const rule = VARIANT_RULES[architecture];
  if (rule && variant !== '' && !rule.re.test(variant)) {
    throw fail(`unknown ${architecture} variant ${JSON.stringify(variantText)}: expected ${rule.expected}`);
  }
  return makePlatform(os, architecture, variant);
}

/** The arm variant that Debian's architecture names armhf and armel stand for. */
function impliedVariant(arch: string): string | undefined {
  if (arch === 'armhf') return 'v7';
  if (arch === 'armel') return 'v6';
  return undefined;
}

/** "linux/arm/v7", "linux/amd64": the form --platform takes and errors show. */
export function formatPlatform(p: Platform): string {
  return p.variant ? `${p.os}/${p.architecture}/${p.variant}` : `${p.os}/${p.architecture}`;
}

/** What Node tells about the machine it runs on: the inputs of `hostPlatform`. */
export interface NodeHost {
  platform: NodeJS.Platform;
  arch: string;
  /** `process.config.variables.arm_version`: the ARM architecture Node was built for ("6", "7", ...). */
  armVersion?: string;
  endianness: 'BE' | 'LE';
}

function thisHost(): NodeHost {
  const variables = process.config.variables as unknown as Record<string, unknown>;
  const armVersion = variables['arm_version'];
  const host: NodeHost = { platform: process.platform, arch: process.arch, endianness: endianness() };
  if (typeof armVersion === 'string' || typeof armVersion === 'number') host.armVersion = String(armVersion);
  return host;
}

/**
 * This machine's platform in OCI names: the default for --platform. Images are built for the
 * containers this host runs, so macOS (and Android) give linux: there are no darwin containers,
 * and Docker Desktop and podman machine run Linux ones in a VM of the same architecture.
 */
export function hostPlatform(host: NodeHost = thisHost()): Platform {
  const os = hostOs(host.platform);
  switch (host.arch) {
    case 'x64':
      return makePlatform(os, 'amd64', '');
    case 'arm64':
      return makePlatform(os, 'arm64', '');
    case 'arm': {
      const version = host.armVersion;
      // Node reports "default" when built without an explicit -march; v7 is arm's default too.
      return makePlatform(os, 'arm', version === '5' || version === '6' || version === '8' ? `v${version}` : 'v7');
    }
    case 'ia32':
      return makePlatform(os, '386', '');
    case 'ppc64':
      return makePlatform(os, host.endianness === 'LE' ? 'ppc64le' : 'ppc64', '');
    case 'mipsel':
      return makePlatform(os, 'mipsle', '');
    case 'mips64el':
      return makePlatform(os, 'mips64le', '');
    case 'ppc':
    case 's390':
    case 's390x':
    case 'riscv64':
    case 'loong64':
    case 'mips':
    case 'mips64':
      return makePlatform(os, host.arch, '');
    default:
      throw new UserError(
        `cannot name this machine's architecture (${host.arch}) as an OCI platform: give --platform OS/ARCH`,
        'EUNSUPPORTED',
      );
  }
}

function hostOs(platform: NodeJS.Platform): string {
  switch (platform) {
    case 'linux':
    case 'darwin':
    case 'android':
      return 'linux';
    case 'win32':
    case 'cygwin':
      return 'windows';
    case 'sunos':
      return 'solaris';
    case 'freebsd':
    case 'openbsd':
    case 'netbsd':
    case 'aix':
      return platform;
    default:
      throw new UserError(
        `cannot name this machine's OS (${platform}) as an OCI platform: give --platform OS/ARCH`,
        'EUNSUPPORTED',
      );
  }
}

/** The variant a normalised platform means, naming the architecture's default when it has one. */
function effectiveVariant(p: Platform): string {
  return p.variant ?? DEFAULT_VARIANT[p.architecture] ?? '';
}

/**
 * Whether an image made for `have` suits a request for `want`: OS and architecture equal after
 * normalisation; the variant too when `want` names one, where no variant means the
 * architecture's default (arm/v7 = arm, arm64/v8 = arm64).
 */
export function platformMatches(want: Platform, have: Platform): boolean {
  const w = normalizePlatform(want);
  const h = normalizePlatform(have);
  if (w.os !== h.os || w.architecture !== h.architecture) return false;
  const wantNamesVariant = Boolean(want.variant) || impliedVariant(want.architecture.toLowerCase()) !== undefined;
  if (!wantNamesVariant) return true;
  return effectiveVariant(w) === effectiveVariant(h);
}

/**
 * The candidate to use for `want`: the first whose platform matches with the same variant,
 * else the first that matches at all (the image-spec: "the first matching entry SHOULD be used").
 */
export function bestMatch<T extends { platform?: Platform }>(want: Platform, candidates: readonly T[]): T | undefined {
  const matching = candidates.filter((c) => c.platform !== undefined && platformMatches(want, c.platform));
  const wanted = effectiveVariant(normalizePlatform(want));
  return matching.find((c) => effectiveVariant(normalizePlatform(c.platform as Platform)) === wanted) ?? matching[0];
}
