// BuildKit's automatic platform ARGs (TARGETPLATFORM, TARGETARCH, BUILDPLATFORM, ...): what a
// Dockerfile may read of the platform it is built for and the one it is built on.
import type { Platform } from '../descriptor.js';
import { formatPlatform, hostPlatform } from '../platform.js';

/**
 * BuildKit's automatic platform ARGs for a build of `target` on `build`: global, so FROM lines
 * see them, and a stage sees one once it declares it with a bare `ARG NAME`.
 */
export function automaticPlatformArgs(target: Platform, build: Platform = hostPlatform()): Record<string, string> {
  return {
    TARGETPLATFORM: formatPlatform(target),
    TARGETOS: target.os,
    TARGETARCH: target.architecture,
    TARGETVARIANT: target.variant ?? '',
    BUILDPLATFORM: formatPlatform(build),
    BUILDOS: build.os,
    BUILDARCH: build.architecture,
    BUILDVARIANT: build.variant ?? '',
  };
}

