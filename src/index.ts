// The public, typed API of oci-pack: the image model, its transports and what each command does.
// The CLI (src/cli/) is a thin shell over these exports; the modules behind them are not the API.

// The image model: every transport reads and writes Images (lazy, verified layers) and indexes.
export { imagesOf } from './model.js';
export type { ArtifactNode, Blob, Image, ImageNode, ImageSink, ImageSource, IndexNode, Layer, SinkEntry, SinkResult } from './model.js';
export { resolve, resolveImage, readNode, isAttestation } from './resolve.js';
export { toOci } from './convert.js';
export type { ResolveOptions } from './resolve.js';
export { LayoutTransaction } from './transaction.js';
export type { Recorded } from './transaction.js';

// The transports, by skopeo's names.
export { TRANSPORT_FORMS, TRANSPORT_NAMES, PULL_POLICIES, hasTransport, openSink, openSource, parseTransportRef } from './transports/index.js';
export type { PullPolicy, TransportName, TransportOptions, TransportRef } from './transports/index.js';
export { LayoutSink, LayoutSource } from './transports/layout.js';
export type { LayoutSinkEvent, LayoutSinkOptions } from './transports/layout.js';
export { OciArchiveSink, OciArchiveSource } from './transports/oci-archive.js';
export type { ArchiveEvent, OciArchiveSinkOptions, OciArchiveSourceOptions } from './transports/oci-archive.js';
export { DockerArchiveSink, DockerArchiveSource } from './transports/docker-archive.js';
export type { DockerArchiveSinkOptions, DockerArchiveSourceOptions, DockerArchiveWriteResult } from './transports/docker-archive.js';
export { RegistrySink, RegistrySource } from './transports/registry.js';
export type { RegistrySinkEvent, RegistrySinkOptions, RegistrySourceOptions } from './transports/registry.js';

// The commands, as functions.
export { copyImage } from './copy.js';
export type { CopyOptions, CopyResult } from './copy.js';
export { buildImage, checkTags } from './build.js';
export type { AddSource, BuildEvent, BuildOptions, BuildResult, LayerSource, Owner, PlacedSource, TarballSource } from './build.js';
export { buildDockerfile, findDockerfile } from './dockerfile/build.js';
export type { DockerfileBuildOptions } from './dockerfile/build.js';
export type { FromOptions } from './dockerfile/from.js';
export { buildDockerfilePlatforms } from './dockerfile/platforms.js';
export type { MultiPlatformBuildOptions, MultiPlatformBuildResult } from './dockerfile/platforms.js';
export { assembleIndex } from './image-index.js';
export type { AssembleIndexOptions, AssembleIndexResult } from './image-index.js';
export { writeDockerArchive, CONTAINERD_IMAGE_NAME } from './docker/write.js';
export type { DockerArchiveEvent, DockerArchiveFormat, DockerArchiveImage, DockerArchiveOptions, DockerArchiveResult } from './docker/write.js';
export { importDockerArchive } from './docker/read.js';
export type { ImportEvent, ImportOptions, ImportResult } from './docker/read.js';
export { pushImage, pullImage, login, RegistryError, parseRegistryRef } from './registry/index.js';
export type { PushImageOptions, PushResult, PushEvent, PullImageOptions, PullResult, PullEvent, LoginOptions, RegistryOptions, RegistryRef, Credentials } from './registry/index.js';
export { validate } from './validate.js';
export type { Problem, ValidateOptions, ValidateReport, ValidatedKind } from './validate.js';
export { inspect } from './inspect.js';
export type { InspectOptions, InspectReport, InspectedFile, InspectedImage, InspectedLayer } from './inspect.js';
export { gc } from './gc.js';
export type { GcOptions, GcResult } from './gc.js';
export { tagImage, untagImage } from './tags.js';

// What callers of those need: layouts, descriptors, digests, platforms, configs, errors.
export { Layout, refNameOf } from './layout.js';
export type { ImageIndex, LockOptions, TagMove } from './layout.js';
export { BlobStore } from './store.js';
export { parseDigest, isDigest, sha256 } from './digest.js';
export type { Digest } from './digest.js';
export { MediaType, REF_NAME_ANNOTATION } from './descriptor.js';
export type { Descriptor, LayerDescriptor, Platform } from './descriptor.js';
export { parseCompression, zstdAvailable } from './compress.js';
export type { CompressionName } from './compress.js';
export { sourceDateEpoch } from './entries.js';
export { isoTime, parsePort } from './image.js';
export type { ConfigChanges, HistoryEntry, ImageConfig, ImageManifest, RuntimeConfig, HealthConfig } from './image.js';
export { readDockerfile } from './dockerfile/instructions.js';
export type { Dockerfile, Instruction, Stage } from './dockerfile/instructions.js';
export { parsePlatform, hostPlatform, formatPlatform, platformMatches } from './platform.js';
export { checkRefName, isBareTag } from './ref.js';
export { schemaProblems } from './schema.js';
export type { SchemaName } from './schema.js';
export { UserError, isUserError } from './errors.js';
export type { ErrorCode } from './errors.js';
