/** The CLI's error mapping and one-line texts (pure functions, no process spawned). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CommanderError } from 'commander';
import { classify, EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_PASS, formatCommanderError, shortReason, UsageError } from '../../src/cli/errors.js';
import { DataUnavailableError } from '../../src/data/errors.js';
import { InvalidOptionError } from '../../src/data/preprocess.js';
import { InvalidEarlyStop } from '../../src/metrics/earlyStopping.js';
import { ModelError } from '../../src/onnx/codec.js';

describe('classify', () => {
  it("the user's mistakes are exit 2 with their own message", () => {
    for (const err of [new UsageError('u'), new InvalidOptionError('o'), new ModelError('UNSUPPORTED_MODEL', 'm'), new InvalidEarlyStop('e'), new DataUnavailableError('d')]) {
      assert.deepEqual(classify(err), { code: EXIT_BAD_INPUT, message: err.message }, err.name);
    }
  });

  it('anything else is an internal error, and says so', () => {
    assert.deepEqual(classify(new TypeError('x is undefined')), { code: EXIT_INTERNAL, message: 'internal error: x is undefined' });
  });

  it("commander's help and version exit 0, its parse errors 2, printed already", () => {
    assert.deepEqual(classify(new CommanderError(0, 'commander.helpDisplayed', '(outputHelp)')), { code: EXIT_PASS, message: null });
    assert.deepEqual(classify(new CommanderError(1, 'commander.unknownOption', "error: unknown option '--x'")), { code: EXIT_BAD_INPUT, message: null });
    assert.deepEqual(classify(new CommanderError(1, 'commander.help', '(outputHelp)')), { code: EXIT_BAD_INPUT, message: null });
  });
});

describe('formatCommanderError', () => {
  it('folds the suggestion into the line', () => {
    assert.equal(formatCommanderError("error: unknown option '--sample'\n(Did you mean --samples?)\n", 'see x --help'), "alias-audit: unknown option '--sample' (did you mean --samples?)");
  });

  it('adds where to look when there is no suggestion, without a stray full stop', () => {
    assert.equal(formatCommanderError("error: missing required argument 'model'\n", 'see alias-audit audit --help'), "alias-audit: missing required argument 'model' (see alias-audit audit --help)");
    assert.equal(
      formatCommanderError("error: too many arguments for 'audit'. Expected 1 argument but got 2.\n", 'see alias-audit audit --help'),
      "alias-audit: too many arguments for 'audit'. Expected 1 argument but got 2 (see alias-audit audit --help)",
    );
  });
});

describe('shortReason', () => {
  it("drops the runtime's function name", () => {
    assert.equal(shortReason('OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library'), 'Failed to load shared library');
  });

  it('drops a trailing detail in parentheses and keeps the first line', () => {
    assert.equal(shortReason('Failed to get a WebGPU adapter: No supported adapters (Vulkan shaderUniform*ArrayDynamicIndexing required.)\nmore'), 'Failed to get a WebGPU adapter: No supported adapters');
  });

  it('cuts a long reason', () => {
    const reason = shortReason(`cannot open ${'x'.repeat(200)}`);
    assert.ok(reason.length <= 80 && reason.endsWith('...'), reason);
  });
});
