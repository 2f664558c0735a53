/**
 * Errors raised by the data layer. They live in their own module so that the tar reader and
 * the CIFAR-10 loader can both throw them without importing each other.
 */

/** No CIFAR-10 source could be found or fetched; the message says how to provide one. */
export class DataUnavailableError extends Error {
  readonly code = 'DATA_UNAVAILABLE' as const;

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'DataUnavailableError';
  }
}

/** A data source was found but its content is not the official CIFAR-10 test set. */
export class DataIntegrityError extends Error {
  readonly code = 'DATA_INTEGRITY' as const;

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'DataIntegrityError';
  }
}
