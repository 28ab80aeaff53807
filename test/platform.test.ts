import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  bestMatch,
  formatPlatform,
  hostPlatform,
  normalizePlatform,
  parsePlatform,
  platformMatches,
  type NodeHost,
} from '../src/platform.js';
import type { Platform } from '../src/descriptor.js';
import { UserError } from '../src/errors.js';
import { assertUsage } from './helpers.js';

describe('parsePlatform', () => {
  const cases: Array<[string, Platform]> = [
    ['linux/amd64', { architecture: 'amd64', os: 'linux' }],
    ['linux/arm64', { architecture: 'arm64', os: 'linux' }],
    ['linux/arm/v7', { architecture: 'arm', os: 'linux', variant: 'v7' }],
    ['linux/arm', { architecture: 'arm', os: 'linux', variant: 'v7' }],
    ['linux/arm/v6', { architecture: 'arm', os: 'linux', variant: 'v6' }],
    ['linux/arm/5', { architecture: 'arm', os: 'linux', variant: 'v5' }],
    ['linux/arm/7', { architecture: 'arm', os: 'linux', variant: 'v7' }],
    ['linux/arm/v8', { architecture: 'arm', os: 'linux', variant: 'v8' }],
    ['linux/x86_64', { architecture: 'amd64', os: 'linux' }],
    ['linux/x86-64', { architecture: 'amd64', os: 'linux' }],
    ['linux/amd64/v1', { architecture: 'amd64', os: 'linux' }],
    ['linux/amd64/v3', { architecture: 'amd64', os: 'linux', variant: 'v3' }],
    ['linux/aarch64', { architecture: 'arm64', os: 'linux' }],
    ['linux/arm64/v8', { architecture: 'arm64', os: 'linux' }],
    ['linux/aarch64/8', { architecture: 'arm64', os: 'linux' }],
    ['linux/arm64/v8.0', { architecture: 'arm64', os: 'linux' }],
    ['linux/arm64/v8.2', { architecture: 'arm64', os: 'linux', variant: 'v8.2' }],
    ['linux/arm64/9', { architecture: 'arm64', os: 'linux', variant: 'v9' }],
    ['linux/armhf', { architecture: 'arm', os: 'linux', variant: 'v7' }],
    ['linux/armhf/v7', { architecture: 'arm', os: 'linux', variant: 'v7' }],
    ['linux/armel', { architecture: 'arm', os: 'linux', variant: 'v6' }],
    ['linux/i386', { architecture: '386', os: 'linux' }],
    ['linux/386', { architecture: '386', os: 'linux' }],
    ['linux/ppc64le', { architecture: 'ppc64le', os: 'linux' }],
    ['linux/ppc64le/power9', { architecture: 'ppc64le', os: 'linux', variant: 'power9' }],
    ['linux/s390x', { architecture: 's390x', os: 'linux' }],
    ['linux/riscv64', { architecture: 'riscv64', os: 'linux' }],
    ['linux/loong64', { architecture: 'loong64', os: 'linux' }],
    ['linux/mips64le', { architecture: 'mips64le', os: 'linux' }],
    ['LINUX/AMD64', { architecture: 'amd64', os: 'linux' }],
    ['Linux/ARM/V7', { architecture: 'arm', os: 'linux', variant: 'v7' }],
    ['linux/AArch64', { architecture: 'arm64', os: 'linux' }],
    ['windows/amd64', { architecture: 'amd64', os: 'windows' }],
    ['freebsd/amd64', { architecture: 'amd64', os: 'freebsd' }],
    ['macos/arm64', { architecture: 'arm64', os: 'darwin' }],
    ['wasip1/wasm', { architecture: 'wasm', os: 'wasip1' }],
  ];
  for (const [text, expected] of cases) {
    it(`parses ${text}`, () => {
      assert.deepEqual(parsePlatform(text), expected);
    });
  }

  it('puts no variant key on a platform without one', () => {
    assert.ok(!('variant' in parsePlatform('linux/arm64/v8')));
    assert.deepEqual(Object.keys(parsePlatform('linux/arm')), ['architecture', 'os', 'variant']);
  });

  it('refuses fewer than 2 or more than 3 parts', () => {
    assertUsage(() => parsePlatform('amd64'), /^--platform: "amd64": expected OS\/ARCH\[\/VARIANT\], e\.g\. linux\/amd64/);
    assertUsage(() => parsePlatform(''), /^--platform: "": expected OS\/ARCH/);
    assertUsage(() => parsePlatform('linux/arm/v7/x'), /^--platform: "linux\/arm\/v7\/x": has more than 3 parts/);
  });

  it('refuses empty parts', () => {
    assertUsage(() => parsePlatform('/amd64'), /"\/amd64": the OS is empty/);
    assertUsage(() => parsePlatform('linux/'), /"linux\/": the architecture is empty/);
    assertUsage(() => parsePlatform('linux//v7'), /the architecture is empty/);
    assertUsage(() => parsePlatform('linux/arm/'), /"linux\/arm\/": the variant is empty/);
  });

  it('refuses characters a platform name cannot hold', () => {
    assertUsage(() => parsePlatform('linux/amd 64'), /the architecture "amd 64" may only hold letters, digits/);
    assertUsage(() => parsePlatform('linux(10)/amd64'), /the OS "linux\(10\)" may only hold/);
    assertUsage(() => parsePlatform('linux/arm/*'), /the variant "\*" may only hold/);
  });

  it('refuses an unknown OS or architecture, naming the value and listing accepted ones', () => {
    assertUsage(() => parsePlatform('lnux/amd64'), /^--platform: "lnux\/amd64": unknown OS "lnux": expected a Go GOOS name such as linux, windows/);
    assertUsage(
      () => parsePlatform('linux/amd46'),
      /^--platform: "linux\/amd46": unknown architecture "amd46": expected a Go GOARCH name such as amd64, arm64, arm, 386/,
    );
    assertUsage(() => parsePlatform('linux/x64'), /unknown architecture "x64"/);
    assertUsage(() => parsePlatform('linux/i686'), /unknown architecture "i686"/);
  });

  it('refuses variants that arm, arm64 and amd64 do not define', () => {
    assertUsage(() => parsePlatform('linux/arm/v9'), /unknown arm variant "v9": expected v5, v6, v7 or v8/);
    assertUsage(() => parsePlatform('linux/arm/hf'), /unknown arm variant "hf"/);
    assertUsage(() => parsePlatform('linux/arm64/v7'), /unknown arm64 variant "v7"/);
    assertUsage(() => parsePlatform('linux/amd64/v5'), /unknown amd64 variant "v5": expected v1, v2, v3 or v4/);
  });

  it('refuses a variant that contradicts armhf or armel', () => {
    assertUsage(() => parsePlatform('linux/armel/v7'), /armel means arm\/v6, which contradicts the variant "v7"/);
    assertUsage(() => parsePlatform('linux/armhf/v6'), /armhf means arm\/v7/);
  });

  it('names the flag it is given', () => {
    assertUsage(() => parsePlatform('x', 'FROM --platform'), /^FROM --platform: "x": /);
  });
});

describe('formatPlatform', () => {
  it('joins OS, architecture and variant with slashes', () => {
    assert.equal(formatPlatform({ architecture: 'arm', os: 'linux', variant: 'v7' }), 'linux/arm/v7');
    assert.equal(formatPlatform({ architecture: 'amd64', os: 'linux' }), 'linux/amd64');
    assert.equal(formatPlatform({ architecture: 'amd64', os: 'linux', variant: '' }), 'linux/amd64');
  });

  it('round-trips through parsePlatform', () => {
    for (const text of ['linux/arm/v6', 'linux/arm64/v8.2', 'windows/amd64', 'linux/ppc64le', 'linux/amd64/v3']) {
      assert.equal(formatPlatform(parsePlatform(text)), text);
    }
  });
});

describe('normalizePlatform', () => {
  it('normalises as containerd does, keeping os.version and os.features', () => {
    assert.deepEqual(normalizePlatform({ architecture: 'x86_64', os: 'Linux' }), { architecture: 'amd64', os: 'linux' });
    assert.deepEqual(normalizePlatform({ architecture: 'arm', os: 'linux' }), { architecture: 'arm', os: 'linux', variant: 'v7' });
    assert.deepEqual(normalizePlatform({ architecture: 'arm64', os: 'linux', variant: 'v8' }), { architecture: 'arm64', os: 'linux' });
    assert.deepEqual(
      normalizePlatform({ architecture: 'amd64', os: 'windows', 'os.version': '10.0.17763.1', 'os.features': ['win32k'] }),
      { architecture: 'amd64', os: 'windows', 'os.version': '10.0.17763.1', 'os.features': ['win32k'] },
    );
  });
});

describe('hostPlatform', () => {
  const host = (platform: NodeJS.Platform, arch: string, extra: Partial<NodeHost> = {}): NodeHost => ({
    platform,
    arch,
    endianness: 'LE',
    ...extra,
  });

  it('names this machine with a known OS and architecture', () => {
    const p = hostPlatform();
    assert.deepEqual(parsePlatform(formatPlatform(p)), p);
    if (process.platform === 'linux' && process.arch === 'x64') assert.deepEqual(p, { architecture: 'amd64', os: 'linux' });
  });

  const archCases: Array<[NodeHost, string]> = [
    [host('linux', 'x64'), 'linux/amd64'],
    [host('linux', 'arm64'), 'linux/arm64'],
    [host('linux', 'arm', { armVersion: '7' }), 'linux/arm/v7'],
    [host('linux', 'arm', { armVersion: '6' }), 'linux/arm/v6'],
    [host('linux', 'arm', { armVersion: 'default' }), 'linux/arm/v7'],
    [host('linux', 'arm'), 'linux/arm/v7'],
    [host('linux', 'ia32'), 'linux/386'],
    [host('linux', 'ppc64'), 'linux/ppc64le'],
    [host('aix', 'ppc64', { endianness: 'BE' }), 'aix/ppc64'],
    [host('linux', 's390x'), 'linux/s390x'],
    [host('linux', 'riscv64'), 'linux/riscv64'],
    [host('linux', 'loong64'), 'linux/loong64'],
    [host('linux', 'mips'), 'linux/mips'],
    [host('linux', 'mipsel'), 'linux/mipsle'],
    [host('linux', 'mips64el'), 'linux/mips64le'],
    [host('win32', 'x64'), 'windows/amd64'],
    [host('win32', 'arm64'), 'windows/arm64'],
    [host('freebsd', 'x64'), 'freebsd/amd64'],
    [host('openbsd', 'x64'), 'openbsd/amd64'],
    [host('sunos', 'x64'), 'solaris/amd64'],
    [host('darwin', 'arm64'), 'linux/arm64'],
    [host('darwin', 'x64'), 'linux/amd64'],
    [host('android', 'arm64'), 'linux/arm64'],
  ];
  for (const [h, expected] of archCases) {
    it(`names ${h.platform}/${h.arch}${h.armVersion ? ` (arm_version ${h.armVersion})` : ''} as ${expected}`, () => {
      const p = hostPlatform(h);
      assert.equal(formatPlatform(p), expected);
      assert.deepEqual(parsePlatform(expected), p);
    });
  }

  it('says to give --platform when Node runs on something with no OCI name', () => {
    assert.throws(() => hostPlatform(host('haiku', 'x64')), (err: unknown) => {
      assert.ok(err instanceof UserError);
      assert.equal(err.code, 'EUNSUPPORTED');
      assert.match(err.message, /this machine's OS \(haiku\).*give --platform OS\/ARCH/);
      return true;
    });
    assert.throws(() => hostPlatform(host('linux', 'sparc9')), /architecture \(sparc9\).*--platform/);
  });
});

describe('platformMatches', () => {
  const p = (text: string): Platform => {
    const [os = '', architecture = '', variant] = text.split('/');
    return variant === undefined ? { os, architecture } : { os, architecture, variant };
  };
  const yes: Array<[string, string]> = [
    ['linux/amd64', 'linux/amd64'],
    ['linux/amd64', 'linux/x86_64'],
    ['linux/amd64', 'linux/amd64/v3'],
    ['linux/amd64/v1', 'linux/amd64'],
    ['linux/arm64', 'linux/arm64'],
    ['linux/arm64', 'linux/arm64/v8'],
    ['linux/arm64/v8', 'linux/arm64'],
    ['linux/arm64/v8', 'linux/aarch64'],
    ['linux/arm64', 'linux/arm64/v9'],
    ['linux/arm/v7', 'linux/arm'],
    ['linux/arm', 'linux/arm/v7'],
    ['linux/arm', 'linux/arm/v6'],
    ['linux/arm/v7', 'linux/armhf'],
    ['linux/armel', 'linux/arm/v6'],
    ['linux/arm/v6', 'linux/armel'],
    ['Linux/AMD64', 'linux/amd64'],
    ['linux/ppc64le', 'linux/ppc64le/power9'],
    ['linux/ppc64le/power9', 'linux/ppc64le/power9'],
  ];
  const no: Array<[string, string]> = [
    ['linux/amd64', 'linux/arm64'],
    ['linux/amd64', 'windows/amd64'],
    ['linux/amd64', 'linux/386'],
    ['linux/amd64/v3', 'linux/amd64'],
    ['linux/arm64/v8', 'linux/arm64/v9'],
    ['linux/arm64', 'linux/arm/v8'],
    ['linux/arm/v7', 'linux/arm/v6'],
    ['linux/arm/v6', 'linux/arm'],
    ['linux/armhf', 'linux/arm/v6'],
    ['linux/arm/v7', 'linux/arm64'],
    ['linux/ppc64le/power9', 'linux/ppc64le'],
  ];
  for (const [want, have] of yes) {
    it(`wanting ${want}, takes ${have}`, () => assert.equal(platformMatches(p(want), p(have)), true));
  }
  for (const [want, have] of no) {
    it(`wanting ${want}, refuses ${have}`, () => assert.equal(platformMatches(p(want), p(have)), false));
  }
});

describe('bestMatch', () => {
  interface Entry {
    name: string;
    platform?: Platform;
  }
  const entry = (name: string, platform?: string): Entry => {
    if (platform === undefined) return { name };
    const [os = '', architecture = '', variant] = platform.split('/');
    return { name, platform: variant === undefined ? { os, architecture } : { os, architecture, variant } };
  };
  const index: Entry[] = [
    entry('attestation'),
    entry('amd64-v3', 'linux/amd64/v3'),
    entry('amd64', 'linux/amd64'),
    entry('arm-v6', 'linux/arm/v6'),
    entry('arm-v7', 'linux/arm/v7'),
    entry('arm64-v9', 'linux/arm64/v9'),
    entry('arm64', 'linux/arm64/v8'),
    entry('win', 'windows/amd64'),
  ];

  it('prefers the exact variant over an earlier entry that also matches', () => {
    assert.equal(bestMatch({ os: 'linux', architecture: 'amd64' }, index)?.name, 'amd64');
    assert.equal(bestMatch({ os: 'linux', architecture: 'arm64' }, index)?.name, 'arm64');
    assert.equal(bestMatch({ os: 'linux', architecture: 'arm' }, index)?.name, 'arm-v7');
  });

  it('finds the entry a parsed --platform names', () => {
    assert.equal(bestMatch(parsePlatform('linux/arm/v6'), index)?.name, 'arm-v6');
    assert.equal(bestMatch(parsePlatform('linux/armhf'), index)?.name, 'arm-v7');
    assert.equal(bestMatch(parsePlatform('linux/amd64/v3'), index)?.name, 'amd64-v3');
    assert.equal(bestMatch(parsePlatform('linux/arm64/v9'), index)?.name, 'arm64-v9');
    assert.equal(bestMatch(parsePlatform('windows/amd64'), index)?.name, 'win');
  });

  it('falls back to the first match when no variant is exact', () => {
    const onlyV9 = [entry('a', 'linux/arm64/v9'), entry('b', 'linux/arm64/v9.2')];
    assert.equal(bestMatch({ os: 'linux', architecture: 'arm64' }, onlyV9)?.name, 'a');
  });

  it('takes the first of equal matches, as the image-spec says', () => {
    const twice = [entry('first', 'linux/amd64'), entry('second', 'linux/x86_64')];
    assert.equal(bestMatch(parsePlatform('linux/amd64'), twice)?.name, 'first');
  });

  it('gives undefined when nothing matches, and skips entries with no platform', () => {
    assert.equal(bestMatch(parsePlatform('linux/s390x'), index), undefined);
    assert.equal(bestMatch(parsePlatform('linux/arm/v8'), index), undefined);
    assert.equal(bestMatch(parsePlatform('linux/amd64'), [entry('no platform')]), undefined);
    assert.equal(bestMatch(parsePlatform('linux/amd64'), []), undefined);
  });
});
