// Registry references: `docker://HOST/REPO:TAG` or `@sha256:…` parsed with docker's normalisation
// (src/ref.ts), the host the API lives at, and which hosts may be spoken to in plain HTTP.
import type { Digest } from '../digest.js';
import { usageError } from '../errors.js';
import { familiarName, parseDockerRef, type DockerRef } from '../ref.js';

export interface RegistryRef {
  /** The registry as people name it: docker.io, localhost:5000, ghcr.io. */
  registry: string;
  /** Where its API answers: registry-1.docker.io for docker.io, else the registry itself. */
  host: string;
  /** The repository inside the registry: library/alpine, myorg/app. */
  repository: string;
  tag?: string;
  digest?: Digest;
}

export const TRANSPORT_PREFIX = 'docker://';

/** Parse `docker://NAME` (or a plain NAME) into a registry reference; `what` names the argument. */
export function parseRegistryRef(text: string, what: string): RegistryRef {
  const name = text.startsWith(TRANSPORT_PREFIX) ? text.slice(TRANSPORT_PREFIX.length) : text;
  if (name.startsWith('/')) throw usageError(`${what}: ${JSON.stringify(text)}: docker:// is followed by a name, not a path`);
  const ref = parseDockerRef(name, what);
  const out: RegistryRef = { registry: ref.domain, host: apiHost(ref.domain), repository: ref.path };
  if (ref.tag !== undefined) out.tag = ref.tag;
  if (ref.digest !== undefined) out.digest = ref.digest;
  return out;
}

/** docker.io's API is not at docker.io (as docker and containers/image map it). */
export function apiHost(registry: string): string {
  return registry === 'docker.io' ? 'registry-1.docker.io' : registry;
}

/** What to ask the manifests endpoint for: the digest when there is one, else the tag, else latest. */
export function manifestReference(ref: RegistryRef): string {
  return ref.digest ?? ref.tag ?? 'latest';
}

/** The reference in docker's short form, for messages and default tags. */
export function shownName(ref: RegistryRef): string {
  const d: DockerRef = { domain: ref.registry, path: ref.repository };
  if (ref.tag !== undefined) d.tag = ref.tag;
  if (ref.digest !== undefined) d.digest = ref.digest;
  return familiarName(d);
}

/** The name a reference gives with its tag, in docker's short form (a pull's ref name); none for a bare digest. */
export function taggedNames(ref: RegistryRef): string[] {
  return ref.tag !== undefined ? [shownName({ ...ref, digest: undefined } as RegistryRef)] : [];
}

/**
 * Whether plain HTTP may be tried: loopback hosts (docker and skopeo treat them as insecure
 * registries) or when TLS verification was turned off; every other host is HTTPS only.
 */
export function plainHttpAllowed(host: string, tlsVerify: boolean): boolean {
  if (!tlsVerify) return true;
  const bare = hostname(host);
  return bare === 'localhost' || bare === '::1' || /^127\.\d+\.\d+\.\d+$/.test(bare);
}

/** The host without its port (and without the brackets of an IPv6 address). */
export function hostname(host: string): string {
  const v6 = /^\[([^\]]+)\](?::\d+)?$/.exec(host);
  if (v6) return v6[1]!;
  const colon = host.lastIndexOf(':');
  return colon < 0 ? host : host.slice(0, colon);
}
