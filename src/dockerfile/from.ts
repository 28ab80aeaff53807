// Where a base image (FROM, COPY --from, `layout --from`) comes from: a transport reference opened
// with openSource (oci:, oci-archive:, docker-archive:, docker://), or a plain name: tagged in the
// target layout, else pulled from its registry (--pull). The one resolver picks the image; its
// layers are staged into the build's staging by digest, so they are published only with the build.
import type { Platform } from '../descriptor.js';
import { UserError, prefixError } from '../errors.js';
import type { Layout } from '../layout.js';
import type { CompressionName } from '../compress.js';
import type { Image, ImageSource } from '../model.js';
import { fullName, parseDockerRef, withDefaultTag } from '../ref.js';
import type { RegistryOptions } from '../registry/client.js';
import { resolveImage } from '../resolve.js';
import type { BlobStore } from '../store.js';
import { hasTransport, openSource, parseTransportRef, type TransportOptions } from '../transports/index.js';
import { LayoutSource } from '../transports/layout.js';
import { stageLayers } from '../build.js';

export { PULL_POLICIES, type PullPolicy } from '../transports/names.js';
import type { PullPolicy } from '../transports/names.js';

/** How base images are found: what `layout` passes to FROM, COPY --from and --from alike. */
export interface FromOptions {
  /** Plain names: the layout's tag, else the registry (missing, the default); never the registry; always the registry. */
  pull?: PullPolicy;
  /** Credentials, TLS and timeouts for registries (docker:// and pulled plain names). */
  registry?: RegistryOptions;
}

export interface FromContext extends FromOptions {
  /** The layout being built into: names tagged there are images too. */
  layout: Layout;
  /** The build's staging: archives unpack into it and base layers are copied into it. */
  staging: BlobStore;
  /** How layers that must be compressed anew (a docker archive's plain tars) are stored. */
  compression?: CompressionName;
  compressionLevel?: number;
  /** The platform asked for; undefined: this host's, for a multi-platform image. */
  platform?: Platform;
  /** How errors name the reference ("Dockerfile:1: FROM x", "--from"). */
  where: string;
}

/** The transports' forms, for messages. */
export const BASE_FORMS = 'oci:DIR[:REF], oci-archive:TAR[:REF], docker-archive:TAR[:NAME:TAG|:@N], docker://NAME, or a plain NAME[:TAG]';

/**
 * The image `name` names, for the context's platform, with its layers staged (verified, by digest,
 * those the layout has pinned rather than copied) and read from the staging from now on; the source
 * it came from is closed before this returns.
 */
export async function stageBaseImage(name: string, ctx: FromContext): Promise<Image> {
  return withBaseImage(name, ctx, async (image) => {
    await stageLayers(ctx.staging, image);
    return { ...image, layers: image.layers.map((l) => ({ descriptor: l.descriptor, open: () => ctx.staging.open(l.descriptor) })) };
  });
}

/** Open the source `name` names, resolve its image for the platform, let `use` read it, then close the source. */
export async function withBaseImage<T>(name: string, ctx: FromContext, use: (image: Image) => Promise<T>): Promise<T> {
  const { source, ref } = await openBase(name, ctx);
  try {
    let image: Image;
    try {
      image = await resolveImage(source, ref, { ...(ctx.platform ? { platform: ctx.platform } : {}), where: ctx.where });
    } catch (err) {
      throw prefixError(ctx.where, err);
    }
    return await use(image);
  } finally {
    await source.close();
  }
}

/** The source a base name opens, and the ref to resolve in it. */
async function openBase(name: string, ctx: FromContext): Promise<{ source: ImageSource; ref: string | undefined }> {
  const opts: TransportOptions = {
    ...ctx.registry,
    scratch: ctx.staging,
    ...(ctx.compression !== undefined ? { compression: ctx.compression } : {}),
    ...(ctx.compressionLevel !== undefined ? { compressionLevel: ctx.compressionLevel } : {}),
  };
  try {
    if (hasTransport(name)) {
      const parsed = parseTransportRef(name, ctx.where);
      // A registry reference is whole in its target; the others name their image after the path.
      return { source: await openSource(parsed, opts), ref: parsed.ref };
    }
    return await plainName(name, ctx, opts);
  } catch (err) {
    throw prefixError(ctx.where, err);
  }
}

/**
 * A name with no transport: a ref name of the target layout (as written or as docker normalises
 * it), unless --pull always; else, unless --pull never, the image its registry has under it
 * (`alpine:3.20` is docker.io/library/alpine:3.20).
 */
async function plainName(name: string, ctx: FromContext, opts: TransportOptions): Promise<{ source: ImageSource; ref: string | undefined }> {
  const pull = ctx.pull ?? 'missing';
  if (pull !== 'always') {
    const local = new LayoutSource(ctx.layout, ctx.layout.root);
    if (await local.lookup(name).then(() => true, (err: unknown) => (err instanceof UserError && err.code === 'ENOTFOUND' ? false : Promise.reject(err)))) {
      return { source: local, ref: name };
    }
  }
  let full: string;
  try {
    full = fullName(withDefaultTag(parseDockerRef(name, 'image name')));
  } catch {
    throw new UserError(`${name} is not a name tagged in ${ctx.layout.root} nor a registry reference; use ${BASE_FORMS}`, 'ENOTFOUND');
  }
  if (pull === 'never') {
    throw new UserError(`${name} is not tagged in ${ctx.layout.root}, and --pull never does not ask its registry (docker://${full})`, 'ENOTFOUND');
  }
  return { source: await openSource(`docker://${full}`, opts), ref: undefined };
}
