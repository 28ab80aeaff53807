// Errors a person can act on (UserError) as opposed to bugs. The CLI prints a UserError as one
// line and exits 1; anything else is a bug and is printed with its stack.

/** Stable codes a caller may branch on. */
export type ErrorCode =
  | 'EUSAGE'      // a flag or argument is malformed
  | 'ENOENT'      // an input file is missing
  | 'EINPUT'      // an input file exists but cannot be used (unreadable, unsafe, wrong type)
  | 'ELAYOUT'     // a directory is not a layout, or a layout is damaged
  | 'EDIGEST'     // content does not match its digest or size
  | 'ENOTFOUND'   // a named image, tag or platform is not there
  | 'EUNSUPPORTED' // a valid request this build cannot carry out
  | 'EAUTH'       // a registry refused our credentials, or they could not be found or read
  | 'EREGISTRY'   // a registry answered with an error
  | 'ENETWORK';   // a registry could not be reached, or did not answer in time

export class UserError extends Error {
  readonly code: ErrorCode;
  constructor(message: string, code: ErrorCode = 'EINPUT') {
    super(message);
    this.name = 'UserError';
    this.code = code;
  }
}

export function usageError(message: string): UserError {
  return new UserError(message, 'EUSAGE');
}

export function isUserError(err: unknown): err is UserError {
  return err instanceof UserError;
}

/** Prefix a UserError with what was being done, keeping its code: "--add ./x:/x: no such file". */
export function prefixError(context: string, err: unknown): unknown {
  if (err instanceof UserError && !err.message.startsWith(`${context}:`)) {
    const wrapped = new UserError(`${context}: ${err.message}`, err.code);
    wrapped.stack = err.stack;
    return wrapped;
  }
  return err;
}

/** A system error (ENOENT, EACCES, ...) on a user's file, turned into one readable line. */
export function fileError(path: string, err: unknown): unknown {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return new UserError(`${path}: no such file or directory`, 'ENOENT');
    case 'EACCES':
    case 'EPERM':
      return new UserError(`${path}: permission denied`, 'EINPUT');
    case 'ENOTDIR':
      return new UserError(`${path}: a parent is not a directory`, 'ENOENT');
    case 'EISDIR':
      return new UserError(`${path}: is a directory`, 'EINPUT');
    case 'ELOOP':
      return new UserError(`${path}: too many levels of symbolic links`, 'EINPUT');
    case 'EIO':
      return new UserError(`${path}: input/output error`, 'EINPUT');
    default:
      return err;
  }
}
