// The registry transport's public face: push an image or index from a layout, pull one into a
// layout, log in; the modules beside this one hold the protocol (distribution-spec v1.1) pieces.
export { pushImage, resolveLocal } from './push.js';
export type { PushEvent, PushImageOptions, PushResult } from './push.js';
export { pullImage } from './pull.js';
export type { PullEvent, PullImageOptions, PullResult } from './pull.js';
export { login } from './login.js';
export type { LoginOptions } from './login.js';
export { RegistryClient, RegistryError } from './client.js';
export type { RegistryOptions } from './client.js';
export { parseRegistryRef, plainHttpAllowed } from './reference.js';
export type { RegistryRef } from './reference.js';
export { parseChallenges } from './auth.js';
export type { Challenge } from './auth.js';
export { findCredentials, authFiles, loginFile, parseCreds } from './credentials.js';
export type { Credentials, CredentialOptions } from './credentials.js';
export type { UploadOutcome } from './blobs.js';
