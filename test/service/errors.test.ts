/** The error catalogue: every layer's errors map to a stable code and status. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DataIntegrityError, DataUnavailableError } from '../../src/data/errors.js';
import { InvalidOptionError } from '../../src/data/preprocess.js';
import { ModelError } from '../../src/onnx/codec.js';
import { jobFailureProblem, PROBLEMS, problemType, ServiceError, toServiceError } from '../../src/service/errors.js';

test('audit-layer errors: options 400, models 422 by their own code, data 503, anything else 500', () => {
  const cases: [unknown, string, number][] = [
    [new InvalidOptionError('--samples bad'), 'INVALID_OPTION', 400],
    [new ModelError('NOT_ONNX', 'x'), 'NOT_ONNX', 422],
    [new ModelError('TRUNCATED', 'x'), 'TRUNCATED', 422],
    [new ModelError('UNSUPPORTED_MODEL', 'x'), 'UNSUPPORTED_MODEL', 422],
    [new DataUnavailableError('no data'), 'DATA_UNAVAILABLE', 503],
    [new DataIntegrityError('bad data'), 'DATA_INTEGRITY', 503],
    [new Error('boom'), 'INTERNAL', 500],
    ['a string', 'INTERNAL', 500],
  ];
  for (const [err, code, status] of cases) {
    const e = toServiceError(err);
    assert.deepEqual([e.code, e.status], [code, status], String(err));
  }
  assert.doesNotMatch(toServiceError(new Error('secret path /etc/x')).detail, /secret/, 'internal details stay in the log');
});

test("the OpenAPI validator's and multer's errors keep their status and list what failed", () => {
  const validator = Object.assign(new Error('request/body/samples must match pattern'), {
    status: 400,
    errors: [{ path: '/body/samples', message: 'must match pattern "^[0-9]+$"' }],
  });
  const e = toServiceError(validator);
  assert.equal(e.code, 'VALIDATION_FAILED');
  assert.deepEqual(e.toProblem().errors, [{ path: '/body/samples', message: 'must match pattern "^[0-9]+$"' }]);
  const tooLarge = Object.assign(new Error('File too large'), { status: 413, errors: [{ path: '/audit', message: 'File too large' }] });
  assert.equal(toServiceError(tooLarge).code, 'PAYLOAD_TOO_LARGE');
  const media = Object.assign(new Error('unsupported media type'), { status: 415, errors: [] });
  assert.equal(toServiceError(media).code, 'UNSUPPORTED_MEDIA_TYPE');
});

test('a job failure from a worker is classified by name and code', () => {
  assert.equal(jobFailureProblem({ name: 'ModelError', code: 'EXTERNAL_DATA', message: 'x' }).status, 422);
  assert.equal(jobFailureProblem({ name: 'AuditTimeout', code: 'AUDIT_TIMEOUT', message: 'x' }).code, 'AUDIT_TIMEOUT');
  assert.equal(jobFailureProblem({ name: 'WorkerCrash', code: 'AUDIT_CRASHED', message: 'x' }).status, 500);
  assert.equal(jobFailureProblem({ name: 'DataUnavailableError', code: 'DATA_UNAVAILABLE', message: 'x' }).status, 503);
  assert.equal(jobFailureProblem({ name: 'TypeError', message: 'x' }).code, 'INTERNAL');
});

test('problem documents carry type, title, status, detail and code', () => {
  const p = new ServiceError('QUEUE_FULL', '3 waiting').toProblem();
  assert.deepEqual(p, { type: 'urn:alias-audit:problem:queue-full', title: PROBLEMS.QUEUE_FULL.title, status: 503, detail: '3 waiting', code: 'QUEUE_FULL' });
  assert.equal(problemType('NOT_ONNX'), 'urn:alias-audit:problem:not-onnx');
});
