// Every bound oci-pack puts on untrusted input, in one place, each with the reason for its number
// (the README's "Limits" section repeats them): hostile input must not exhaust memory, stack or time.

/** The largest JSON document (manifest, index, config) read into memory: configs with long histories fit. */
export const MAX_JSON_BYTES = 8 * 1024 * 1024;

/**
 * How deep JSON may nest ([ and {). No OCI or docker document needs more than ~10 levels; V8's
 * JSON.parse and every recursive walk after it (schema checks, key sorting) use the stack, which a
 * document nested 100,000 deep overflows.
 */
export const MAX_JSON_DEPTH = 256;

/** index.json of a layout: many tags, each a descriptor of ~300 bytes (~50,000 of them). */
export const MAX_INDEX_BYTES = 16 * 1024 * 1024;

/** containers/image refuses a larger manifest.json in a docker-save archive (iolimits.MaxTarFileManifestSize). */
export const MAX_MANIFEST_JSON_BYTES = 1024 * 1024;

/** Entries of a docker-save archive (outer tar): a handful per layer. */
export const MAX_ARCHIVE_ENTRIES = 100_000;

/** A PAX extended header: records for one entry (path, linkpath, xattrs); Go's archive/tar allows 1 MiB too. */
export const MAX_PAX_BYTES = 1024 * 1024;

/**
 * Entries of one layer tar: a layer's symlink and directory map is held in memory to resolve links
 * (about 100 bytes each), so a count bounds that memory; the largest distro layers have ~200,000.
 */
export const MAX_LAYER_ENTRIES = 4_000_000;

/**
 * One expanded Dockerfile word (after $VAR substitution), in characters (UTF-16 units): `ENV A=$A$A`
 * repeated doubles a value each line and would grow until V8 aborts at 4 GB. 1 Mi is far beyond any
 * real value (ARG_MAX on Linux is 2 MiB for a whole command line).
 */
export const MAX_EXPANDED_WORD_LENGTH = 1024 * 1024;

/**
 * All the words expanded in one Dockerfile build, in characters: `ENV A1=$A A2=$A ...` on many
 * lines copies a 1 Mi value into the env and the history many times. The config all this ends up in
 * may not exceed MAX_JSON_BYTES (8 MiB) anyway, so a build past 16 Mi could not succeed.
 */
export const MAX_EXPANDED_TOTAL_LENGTH = 16 * 1024 * 1024;

/** Nesting of ${...} inside ${...} operands: each level is a recursion of the lexer. */
export const MAX_EXPANSION_DEPTH = 64;
