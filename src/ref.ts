// Image names: the OCI `org.opencontainers.image.ref.name` grammar that tags in a layout follow, and
// docker references (distribution/reference) with docker's normalisation (docker.io, library/).
import { isDigest, type Digest } from './digest.js';
import { UserError, usageError } from './errors.js';

// ---- OCI ref.name (image-spec annotations.md) ----

const OCI_ALPHANUM = '[A-Za-z0-9]+';
const OCI_SEPARATOR = '(?:[-._:@+]|--)';
const OCI_COMPONENT = `${OCI_ALPHANUM}(?:${OCI_SEPARATOR}${OCI_ALPHANUM})*`;
const OCI_COMPONENT_RE = new RegExp(`^${OCI_COMPONENT}$`);

/**
 * Check a value for the ref.name annotation against the image-spec grammar
 * (ref ::= component ("/" component)*; component ::= alphanum (separator alphanum)*;
 * alphanum ::= [A-Za-z0-9]+; separator ::= [-._:@+] | "--"), saying which rule a bad one breaks.
 */
export function checkRefName(value: string, what = '--tag'): void {
  const fail = (why: string): UserError => usageError(`${what}: ${JSON.stringify(value)}: ${why}`);
  if (value === '') throw fail('a ref name cannot be empty');
  const bad = /[^A-Za-z0-9\-._:@+/]/.exec(value);
  if (bad) {
    throw fail(`character ${JSON.stringify(bad[0])} is not allowed: only letters, digits and - . _ : @ + / may appear`);
  }
  for (const component of value.split('/')) {
    if (component === '') throw fail("'/' must separate non-empty components (no leading, trailing or double '/')");
    if (OCI_COMPONENT_RE.test(component)) continue;
    if (!/^[A-Za-z0-9]/.test(component) || !/[A-Za-z0-9]$/.test(component)) {
      throw fail(`component ${JSON.stringify(component)} must start and end with a letter or digit`);
    }
    const run = /[-._:@+]{2,}/.exec(component)?.[0] ?? component;
    throw fail(`${JSON.stringify(run)} in ${JSON.stringify(component)}: separators stand alone between letters or digits (only "--" may be doubled)`);
  }
}

/** A one-word ref name ("latest", "v1"): docker-format tools read it as a tag with no repository. */
export function isBareTag(ref: string): boolean {
  return ref !== '' && !ref.includes(':') && !ref.includes('/');
}

// ---- docker references (github.com/distribution/reference) ----

/** A docker reference, normalised: `docker.io/library/hello:latest` is {docker.io, library/hello, latest}. */
export interface DockerRef {
  /** The registry host, with its port if any: docker.io, localhost:5000, ghcr.io. */
  domain: string;
  /** The repository path within the registry: library/hello, myorg/app. */
  path: string;
  tag?: string;
  digest?: Digest;
}

const DEFAULT_DOMAIN = 'docker.io';
const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
const OFFICIAL_REPO_PREFIX = 'library/';
const DEFAULT_TAG = 'latest';
/** distribution/reference's RepositoryNameTotalLengthMax, counted on the path alone. */
const MAX_PATH_LENGTH = 255;

const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN_NAME = `${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*`;
const IPV6_ADDRESS = '\\[(?:[a-fA-F0-9:]+)\\]';
const DOMAIN_AND_PORT_RE = new RegExp(`^(?:${DOMAIN_NAME}|${IPV6_ADDRESS})(?::[0-9]+)?$`);
const PATH_COMPONENT_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG_RE = /^\w[\w.-]{0,127}$/;
/** distribution/reference's digest grammar: anything of this shape is a digest, if not a sha256 one. */
const ANY_DIGEST_RE = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
const IMAGE_ID_RE = /^[a-f0-9]{64}$/;

/**
 * Split a reference into its registry domain and the rest, as docker's splitDockerDomain does: the
 * first component is a domain only when it is `localhost` or holds a '.', a ':' or an uppercase
 * letter; otherwise the domain is docker.io, and a one-component name there gets `library/`.
 */
function splitDomain(text: string): { domain: string; remainder: string } {
  const slash = text.indexOf('/');
  if (slash < 0) return { domain: DEFAULT_DOMAIN, remainder: OFFICIAL_REPO_PREFIX + text };
  const first = text.slice(0, slash);
  let domain = DEFAULT_DOMAIN;
  let remainder = text;
  if (first === LEGACY_DEFAULT_DOMAIN) {
    remainder = text.slice(slash + 1);
  } else if (first === 'localhost' || /[.:]/.test(first) || first.toLowerCase() !== first) {
    domain = first;
    remainder = text.slice(slash + 1);
  }
  if (domain === DEFAULT_DOMAIN && !remainder.includes('/')) remainder = OFFICIAL_REPO_PREFIX + remainder;
  return { domain, remainder };
}

/**
 * Parse a docker reference (`hello`, `hello:1`, `myorg/app@sha256:...`, `localhost:5000/x:y`) and
 * normalise it as docker does: the domain defaults to docker.io (index.docker.io is docker.io too),
 * and a one-component repository on docker.io goes under library/. `what` names the flag in errors.
 */
export function parseDockerRef(text: string, what: string): DockerRef {
  const fail = (why: string): UserError => usageError(`${what}: ${JSON.stringify(text)}: ${why}`);
  if (text === '') throw fail('an image reference cannot be empty');
  if (IMAGE_ID_RE.test(text)) throw fail('a 64-hex-digit image ID cannot be used as a repository name');

  const { domain, remainder } = splitDomain(text);
  if (!DOMAIN_AND_PORT_RE.test(domain)) {
    throw fail(`the registry ${JSON.stringify(domain)} is not a host name, IPv4 or [IPv6] address, with an optional :port`);
  }

  const at = remainder.indexOf('@');
  const nameAndTag = at < 0 ? remainder : remainder.slice(0, at);
  const digestText = at < 0 ? undefined : remainder.slice(at + 1);
  const colon = nameAndTag.indexOf(':');
  const path = colon < 0 ? nameAndTag : nameAndTag.slice(0, colon);
  const tag = colon < 0 ? undefined : nameAndTag.slice(colon + 1);

  checkPath(path, fail);
  if (tag !== undefined) checkTag(tag, fail);
  const ref: DockerRef = { domain, path };
  if (tag !== undefined) ref.tag = tag;
  if (digestText !== undefined) ref.digest = checkDigest(digestText, fail);
  return ref;
}

function checkPath(path: string, fail: (why: string) => UserError): void {
  if (path.toLowerCase() !== path) {
    throw fail(`the repository name ${JSON.stringify(path)} must be lowercase`);
  }
  if (path.length > MAX_PATH_LENGTH) {
    throw fail(`the repository name is ${path.length} characters long, more than ${MAX_PATH_LENGTH}`);
  }
  for (const component of path.split('/')) {
    if (component === '') throw fail(`the repository name ${JSON.stringify(path)} has an empty component`);
    if (!PATH_COMPONENT_RE.test(component)) {
      throw fail(
        `the repository name component ${JSON.stringify(component)} must be lowercase letters and digits, ` +
          "separated by single '.', one or two '_', or '-'s",
      );
    }
  }
}

function checkTag(tag: string, fail: (why: string) => UserError): void {
  if (tag === '') throw fail("the tag after ':' is empty");
  if (tag.length > 128) throw fail(`the tag is ${tag.length} characters long, more than 128`);
  if (!TAG_RE.test(tag)) {
    throw fail(
      `the tag ${JSON.stringify(tag)} may only hold letters, digits, '_', '.' and '-', and cannot start with '.' or '-'`,
    );
  }
}

function checkDigest(text: string, fail: (why: string) => UserError): Digest {
  if (isDigest(text)) return text;
  if (ANY_DIGEST_RE.test(text) && !text.startsWith('sha256:')) {
    throw fail(`the digest ${JSON.stringify(text)} is not a sha256 one, the only kind supported`);
  }
  throw fail(`the digest ${JSON.stringify(text)} is not sha256: followed by 64 lowercase hex digits`);
}

/** The reference with the tag `latest` when it names neither a tag nor a digest (docker's TagNameOnly). */
export function withDefaultTag(ref: DockerRef): DockerRef {
  if (ref.tag !== undefined || ref.digest !== undefined) return ref;
  return { ...ref, tag: DEFAULT_TAG };
}

/**
 * The repository without tag or digest: in full (`docker.io/library/hello`) or in docker's familiar
 * form (`hello`, `myorg/app`, `ghcr.io/x/y`), which drops docker.io and a one-level library/.
 */
export function repositoryName(ref: DockerRef, familiar: boolean): string {
  if (!familiar || ref.domain !== DEFAULT_DOMAIN) return `${ref.domain}/${ref.path}`;
  if (ref.path.startsWith(OFFICIAL_REPO_PREFIX)) {
    const rest = ref.path.slice(OFFICIAL_REPO_PREFIX.length);
    // library/ stays when more levels follow, so that the name parses back to the same path.
    if (!rest.includes('/')) return rest;
  }
  return ref.path;
}

function suffix(ref: DockerRef): string {
  return (ref.tag !== undefined ? `:${ref.tag}` : '') + (ref.digest !== undefined ? `@${ref.digest}` : '');
}

/** Docker's short form, as `docker images` shows it and manifest.json RepoTags hold it: `hello:latest`. */
export function familiarName(ref: DockerRef): string {
  return repositoryName(ref, true) + suffix(ref);
}

/** The fully qualified form containerd uses: `docker.io/library/hello:latest`. */
export function fullName(ref: DockerRef): string {
  return repositoryName(ref, false) + suffix(ref);
}
