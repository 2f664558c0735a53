/**
 * The service's error catalogue: every problem the HTTP API can answer, with its stable
 * `code`, HTTP status and title (RFC 9457 problem details). Routes throw {@link ServiceError};
 * errors from the layers below are classified here, once, by {@link toServiceError}.
 */
import { homedir, tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { DataIntegrityError, DataUnavailableError } from '../data/errors.js';
import { InvalidOptionError } from '../data/preprocess.js';
import { InvalidEarlyStop } from '../metrics/earlyStopping.js';
import { ModelError } from '../onnx/codec.js';

/** Stable problem codes: part of the API contract (clients switch on them). */
export const PROBLEMS = {
  INVALID_OPTION: { status: 400, title: 'Invalid audit option' },
  VALIDATION_FAILED: { status: 400, title: 'Request does not match the API specification' },
  MODEL_MISSING: { status: 400, title: 'No model file in the upload' },
  UNEXPECTED_FILE: { status: 400, title: 'Unexpected file in the upload' },
  MALFORMED_UPLOAD: { status: 400, title: 'Malformed multipart upload' },
  UNAUTHORIZED: { status: 401, title: 'Missing or unknown API key' },
  CROSS_ORIGIN: { status: 403, title: 'Cross-origin request refused' },
  CSRF_TOKEN_INVALID: { status: 403, title: 'Missing or wrong CSRF token' },
  NOT_FOUND: { status: 404, title: 'Not found' },
  METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed' },
  AUDIT_NOT_FINISHED: { status: 409, title: 'The audit has not finished' },
  EPOCH_EXISTS: { status: 409, title: 'The run has a checkpoint of this epoch already' },
  BASELINE_NOT_SUCCEEDED: { status: 409, title: 'The baseline audit has not succeeded' },
  PAYLOAD_TOO_LARGE: { status: 413, title: 'Upload too large' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported media type' },
  // ModelError codes (src/onnx/codec.ts): the upload is not a model the audit can take.
  EMPTY_FILE: { status: 422, title: 'Empty model file' },
  NOT_ONNX: { status: 422, title: 'Not an ONNX model' },
  TRUNCATED: { status: 422, title: 'Truncated model file' },
  EXTERNAL_DATA: { status: 422, title: 'Model uses external data' },
  MODEL_LIMIT: { status: 422, title: 'Model over a limit' },
  NO_IMAGE_INPUT: { status: 422, title: 'Not an image classifier' },
  MULTIPLE_IMAGE_INPUTS: { status: 422, title: 'More than one image input' },
  UNSUPPORTED_MODEL: { status: 422, title: 'Unsupported model' },
  AUDIT_TIMEOUT: { status: 422, title: 'Audit exceeded its time limit' },
  MEMORY_LIMIT: { status: 422, title: 'Audit exceeds the worker memory limit' },
  RATE_LIMITED: { status: 429, title: 'Too many requests' },
  TOO_MANY_IN_FLIGHT: { status: 429, title: 'Too many requests of this kind in flight' },
  INTERNAL: { status: 500, title: 'Internal server error' },
  AUDIT_CRASHED: { status: 500, title: 'Audit worker crashed' },
  DATA_UNAVAILABLE: { status: 503, title: 'CIFAR-10 test set unavailable' },
  DATA_INTEGRITY: { status: 503, title: 'CIFAR-10 test set failed its integrity check' },
  QUEUE_FULL: { status: 503, title: 'Audit queue is full' },
  SHUTTING_DOWN: { status: 503, title: 'Service is shutting down' },
  NOT_READY: { status: 503, title: 'Service not ready' },
  SERVICE_BUSY: { status: 503, title: 'Service at capacity' },
  // Distributed mode: a server the service depends on is unreachable; it recovers by itself.
  STORE_UNAVAILABLE: { status: 503, title: 'Database unavailable' },
  QUEUE_UNAVAILABLE: { status: 503, title: 'Audit queue unavailable' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ProblemCode = keyof typeof PROBLEMS;

/** An RFC 9457 problem document plus our stable `code`; extension members allowed. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  code: ProblemCode;
  [extension: string]: unknown;
}

/** `type` URI of a code: a URN, because the service has no public page per problem. */
export function problemType(code: ProblemCode): string {
  return `urn:alias-audit:problem:${code.toLowerCase().replace(/_/g, '-')}`;
}

/** An error that the error middleware turns into a problem response. */
export class ServiceError extends Error {
  readonly status: number;

  constructor(
    readonly code: ProblemCode,
    readonly detail: string,
    /** Extension members (e.g. `errors` from validation) and response headers. */
    readonly extra: { members?: Record<string, unknown>; headers?: Record<string, string> } = {},
  ) {
    super(detail);
    this.name = 'ServiceError';
    this.status = PROBLEMS[code].status;
  }

  /** The problem document, without `instance` (the middleware adds the request's). */
  toProblem(): Problem {
    return { type: problemType(this.code), title: PROBLEMS[this.code].title, status: this.status, detail: this.detail, code: this.code, ...this.extra.members };
  }
}

function isProblemCode(code: unknown): code is ProblemCode {
  return typeof code === 'string' && Object.hasOwn(PROBLEMS, code);
}

/** Shape of express-openapi-validator's HttpError (not exported as a class we can import cheaply). */
interface ValidatorHttpError {
  status: number;
  message: string;
  errors?: { path?: string; message?: string; errorCode?: string }[];
  headers?: Record<string, string>;
}

function isValidatorError(err: unknown): err is ValidatorHttpError {
  return err instanceof Error && typeof (err as Partial<ValidatorHttpError>).status === 'number' && Array.isArray((err as Partial<ValidatorHttpError>).errors);
}

const STATUS_CODES: Record<number, ProblemCode> = {
  400: 'VALIDATION_FAILED',
  401: 'UNAUTHORIZED',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
};

/**
 * Classifies any error: our own, the audit layers' (options, model, data), the OpenAPI
 * validator's and multer's, body-parser's. Anything unknown is INTERNAL (a bug, not the client).
 */
export function toServiceError(err: unknown): ServiceError {
  if (err instanceof ServiceError) return err;
  if (err instanceof InvalidOptionError || err instanceof InvalidEarlyStop) return new ServiceError('INVALID_OPTION', err.message);
  if (err instanceof ModelError) return new ServiceError(isProblemCode(err.code) ? err.code : 'UNSUPPORTED_MODEL', err.message);
  if (err instanceof DataUnavailableError) return new ServiceError('DATA_UNAVAILABLE', err.message);
  if (err instanceof DataIntegrityError) return new ServiceError('DATA_INTEGRITY', err.message);
  if (isValidatorError(err)) {
    // multer's LIMIT_FILE_COUNT arrives as a 413; it is a malformed request, not a large one.
    if (err.status === 413 && /too many files/i.test(err.message)) {
      return new ServiceError('UNEXPECTED_FILE', 'only the model file is taken, in the field "model" (and, for POST /audit, a report in "baselineReport")');
    }
    const code = STATUS_CODES[err.status] ?? (err.status >= 500 ? 'INTERNAL' : 'VALIDATION_FAILED');
    const errors = (err.errors ?? []).map((e) => ({ path: e.path ?? '', message: e.message ?? '' }));
    const detail = errors.length > 0 ? errors.map((e) => (e.path ? `${e.path}: ${e.message}` : e.message)).join('; ') : err.message;
    return new ServiceError(code, detail, { members: errors.length > 0 ? { errors } : {}, headers: err.headers });
  }
  // body-parser / raw-body style errors carry an HTTP status and `expose`.
  const status = (err as { status?: unknown } | null)?.status;
  if (err instanceof Error && typeof status === 'number' && status >= 400 && status < 500 && STATUS_CODES[status]) {
    return new ServiceError(STATUS_CODES[status], err.message);
  }
  return new ServiceError('INTERNAL', 'internal error; the server log has the details');
}

/**
 * Directories of this machine that no answer may name: where the server runs, its home, its
 * temporary files and its installation. Longest first, so a nested one is replaced whole.
 */
const PRIVATE_DIRS: readonly string[] = [process.cwd(), homedir(), tmpdir(), fileURLToPath(new URL('../../', import.meta.url))]
  .map((d) => d.replace(/[\\/]+$/, ''))
  .filter((d, i, all) => d.length > 1 && all.indexOf(d) === i)
  .sort((a, b) => b.length - a.length);

/** The rest of a path after a directory, and what may follow a directory's name. */
const PATH_TAIL = String.raw`(?:[\\/][^\s'"\`<>]*)?`;
const PATH_END = String.raw`(?=$|[\\/\s'"\`<>),;:])`;
const PRIVATE_DIR_PATTERNS = PRIVATE_DIRS.map((d) => new RegExp(`(?:file://)?${d.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}${PATH_END}${PATH_TAIL}`, 'g'));
/**
 * Absolute paths under the usual system roots (a segment and a slash, so that URL paths such
 * as /runs/{id} and ONNX node names such as /layer1/conv/Conv stay), and Windows drive paths.
 */
const SYSTEM_PATH = /(?:file:\/\/)?\/(?:home|root|tmp|var|usr|etc|opt|srv|mnt|media|proc|sys|dev|run|private|Users|Volumes|work|snap|nix)\/[^\s'"`<>]*|\b[A-Za-z]:\\[^\s'"`<>]*/g;
/** Longest detail an answer carries; a longer one is cut (the log has it whole). */
const MAX_DETAIL = 1000;

/**
 * A message as a client may see it: no stack frames, no file paths of this machine (each
 * becomes `<path>`), at most {@link MAX_DETAIL} characters. The full text belongs in the log.
 */
export function publicDetail(message: string): string {
  let text = message
    .split('\n')
    .filter((line) => !/^\s*at\s/.test(line))
    .join('\n')
    .trim();
  for (const pattern of PRIVATE_DIR_PATTERNS) text = text.replace(pattern, '<path>');
  text = text.replace(SYSTEM_PATH, '<path>');
  return text.length > MAX_DETAIL ? `${text.slice(0, MAX_DETAIL - 1)}…` : text;
}

/**
 * Classifies an error that ended an audit job; stored with the job and answered by `?wait=true`.
 * `name`/`code` come over IPC from the worker, so this works on plain objects, not classes.
 * The problem never carries the worker's raw words: paths are removed, a crashed worker's output
 * and an unexpected error's message are left out. `log` gets the full message whenever the
 * problem's detail differs from it.
 */
export function jobFailureProblem(failure: { name?: string; code?: string; message: string }, log?: (message: string) => void): Problem {
  const problem = jobFailureProblemOf(failure);
  if (log && problem.detail !== failure.message) log(failure.message);
  return problem;
}

function jobFailureProblemOf(failure: { name?: string; code?: string; message: string }): Problem {
  const detail = publicDetail(failure.message);
  if (failure.name === 'InvalidOptionError') return new ServiceError('INVALID_OPTION', detail).toProblem();
  if (failure.name === 'ModelError') return new ServiceError(isProblemCode(failure.code) ? failure.code : 'UNSUPPORTED_MODEL', detail).toProblem();
  if (failure.name === 'DataUnavailableError') return new ServiceError('DATA_UNAVAILABLE', detail).toProblem();
  if (failure.name === 'DataIntegrityError') return new ServiceError('DATA_INTEGRITY', detail).toProblem();
  if (failure.code === 'AUDIT_CRASHED') {
    // The runner appends the worker's last stderr lines ("; its last output: ..."): log only.
    const [what, output] = failure.message.split(/;\s*its last output:/, 2);
    return new ServiceError('AUDIT_CRASHED', `${publicDetail(what)}${output === undefined ? '' : '; the server log has its last output'}`).toProblem();
  }
  if (isProblemCode(failure.code) && failure.code !== 'INTERNAL') return new ServiceError(failure.code, detail).toProblem();
  return new ServiceError('INTERNAL', 'the audit failed with an unexpected error; the server log has the details').toProblem();
}
