/**
 * The shared third-party models live beside the checkout (../shared/models), not in the repo.
 * Tests that need them skip, saying why, where a checkout has no such folder.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const sharedModels = new URL('../../../shared/models/', import.meta.url);

export const sharedModelsMissing: string | false = existsSync(fileURLToPath(new URL('models.json', sharedModels)))
  ? false
  : 'no ../shared/models beside this checkout (third-party reference models)';
