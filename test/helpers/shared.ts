/**
 * The shared third-party models live beside the checkout (../shared/models), not in the repo.
 * Tests that need them skip, saying why, where a checkout has no such folder; under CI=true
 * only the tests on scripts/test-skips-allowed.json may skip, for this reason.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const sharedModels = new URL('../../../shared/models/', import.meta.url);

/** The skip reason of every test that needs ../shared/models. */
export const SHARED_MODELS_MISSING = 'no ../shared/models beside this checkout (third-party reference models)';

export const sharedModelsMissing: string | false = existsSync(fileURLToPath(new URL('models.json', sharedModels))) ? false : SHARED_MODELS_MISSING;
