/**
 * The provider probe's pure parts (reading a child's transcript, shortening ONNX Runtime's and
 * Dawn's messages) and the probe itself, run from source the way the tests run everything.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import {
  conciseRuntimeError,
  nativeDetail,
  PROBE_RECORD_PREFIX,
  probeChildCommand,
  probeProviders,
  ProbeExit,
  ProbeRecord,
  readProbeTranscript,
} from '../../src/runtime/providerProbe.js';
import { providerOrder } from '../../src/runtime/session.js';

const clean: ProbeExit = { code: 0, signal: null, timedOut: false };
const rec = (r: ProbeRecord): string => `\n${PROBE_RECORD_PREFIX}${JSON.stringify(r)}\n`;

const ORT_WEBGPU_ERROR =
  '/onnxruntime_src/onnxruntime/core/providers/webgpu/webgpu_context.cc:136 onnxruntime::webgpu::WebGpuContext::Initialize(const onnxruntime::webgpu::WebGpuContextConfig&)::<lambda()> adapter_result.status == wgpu::RequestAdapterStatus::Success was false. Failed to get a WebGPU adapter: No supported adapters\n';
const DAWN_LAVAPIPE = [
  'error: XDG_RUNTIME_DIR is invalid or not set in the environment.',
  'error: XDG_RUNTIME_DIR is invalid or not set in the environment.',
  'Warning: Vulkan shaderUniform*ArrayDynamicIndexing required.',
  ' - While initializing adapter (backend=BackendType::Vulkan)',
  '    at InitializeImpl (/build/Release/_deps/dawn-src/src/dawn/native/vulkan/PhysicalDeviceVk.cpp:253)',
  '',
].join('\n');

test('providerOrder: auto tries cuda, webgpu, cpu; an explicit GPU provider falls back to cpu; cpu is alone', () => {
  assert.deepEqual(providerOrder('auto'), ['cuda', 'webgpu', 'cpu']);
  assert.deepEqual(providerOrder('webgpu'), ['webgpu', 'cpu']);
  assert.deepEqual(providerOrder('cuda'), ['cuda', 'cpu']);
  assert.deepEqual(providerOrder('cpu'), ['cpu']);
});

test('conciseRuntimeError keeps what follows a failed ORT_ENFORCE condition, and leaves other messages whole', () => {
  assert.equal(conciseRuntimeError(ORT_WEBGPU_ERROR), 'Failed to get a WebGPU adapter: No supported adapters');
  const cuda = 'OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library';
  assert.equal(conciseRuntimeError(cuda), cuda);
  assert.equal(conciseRuntimeError('\n  first line  \nsecond'), 'first line');
  // A located message without a failed condition keeps its location: nothing safe to cut.
  const located = '/src/x.cc:12 something odd happened';
  assert.equal(conciseRuntimeError(located), located);
});

test('nativeDetail keeps Dawn\'s messages over other libraries\' lines and drops its context lines', () => {
  assert.equal(nativeDetail(DAWN_LAVAPIPE.split('\n')), 'Vulkan shaderUniform*ArrayDynamicIndexing required.');
  const noVulkan = ["Warning: Couldn't load Vulkan: libvulkan.so.1: cannot open shared object file: No such file or directory", '    at operator() (/build/BackendVk.cpp:368)'];
  assert.equal(nativeDetail(noVulkan), "Couldn't load Vulkan: libvulkan.so.1: cannot open shared object file: No such file or directory");
  // Without a Dawn message, the other lines are all there is: each once.
  assert.equal(nativeDetail(['error: XDG_RUNTIME_DIR is invalid.', 'error: XDG_RUNTIME_DIR is invalid.', 'libfoo: bar']), 'XDG_RUNTIME_DIR is invalid.; libfoo: bar');
  assert.equal(nativeDetail([]), '');
  assert.ok(nativeDetail([`Warning: ${'x'.repeat(1000)}`]).length <= 300);
});

test('readProbeTranscript gives each provider its own result and the native lines printed during its attempt', () => {
  const transcript =
    rec({ ready: true }) +
    rec({ provider: 'cuda', ok: false, error: 'OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library' }) +
    DAWN_LAVAPIPE +
    rec({ provider: 'webgpu', ok: false, error: ORT_WEBGPU_ERROR });
  const { outcomes, unreached } = readProbeTranscript(transcript, ['cuda', 'webgpu'], clean);
  assert.deepEqual(unreached, []);
  assert.deepEqual(outcomes.get('cuda'), { ok: false, reason: 'OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library' });
  assert.deepEqual(outcomes.get('webgpu'), {
    ok: false,
    reason: 'Failed to get a WebGPU adapter: No supported adapters (Vulkan shaderUniform*ArrayDynamicIndexing required.)',
  });
});

test('readProbeTranscript: a provider that started is ok, whatever native noise came with it', () => {
  const { outcomes } = readProbeTranscript(rec({ ready: true }) + DAWN_LAVAPIPE + rec({ provider: 'webgpu', ok: true }), ['webgpu'], clean);
  assert.deepEqual(outcomes.get('webgpu'), { ok: true });
});

test('readProbeTranscript: a child that crashes blames the provider it was trying and leaves the rest for another child', () => {
  const transcript = rec({ ready: true }) + 'Segmentation fault in libcuda\n';
  const { outcomes, unreached } = readProbeTranscript(transcript, ['cuda', 'webgpu'], { code: null, signal: 'SIGSEGV', timedOut: false });
  assert.deepEqual(unreached, ['webgpu']);
  const cuda = outcomes.get('cuda');
  assert.ok(cuda && !cuda.ok);
  assert.match(cuda.reason, /starting cuda crashed the probe process \(SIGSEGV\)/);
  assert.match(cuda.reason, /Segmentation fault in libcuda/);
  assert.equal(outcomes.has('webgpu'), false);
});

test('readProbeTranscript: a child that hangs is reported as not finishing in time', () => {
  const transcript = rec({ ready: true }) + rec({ provider: 'cuda', ok: true });
  const { outcomes, unreached } = readProbeTranscript(transcript, ['cuda', 'webgpu'], { code: null, signal: 'SIGKILL', timedOut: true });
  assert.deepEqual(outcomes.get('cuda'), { ok: true });
  const webgpu = outcomes.get('webgpu');
  assert.ok(webgpu && !webgpu.ok);
  assert.match(webgpu.reason, /starting webgpu did not finish within \d+ s/);
  assert.deepEqual(unreached, []);
});

test('readProbeTranscript: a child that never got ONNX Runtime loaded fails every provider with why, and blames none', () => {
  const stderr = "node:internal/modules/esm/resolve:1 Error: Cannot find package 'onnxruntime-node'\n    at resolve (x)\n";
  const { outcomes, unreached } = readProbeTranscript(stderr, ['cuda', 'webgpu'], { code: 1, signal: null, timedOut: false });
  assert.deepEqual(unreached, []);
  for (const p of ['cuda', 'webgpu']) {
    const o = outcomes.get(p);
    assert.ok(o && !o.ok);
    assert.match(o.reason, /^the provider probe did not run: ended the probe process \(exit code 1\)/);
    assert.match(o.reason, /Cannot find package 'onnxruntime-node'/);
  }
  const spawnFailed = readProbeTranscript('', ['cuda'], { code: null, signal: null, timedOut: false, spawnError: 'spawn EAGAIN' });
  assert.deepEqual(spawnFailed.outcomes.get('cuda'), { ok: false, reason: 'the provider probe did not run: could not start a process (spawn EAGAIN)' });
});

test('readProbeTranscript ignores records for providers it did not ask about, and native lines that only look like records', () => {
  const transcript = rec({ ready: true }) + `${PROBE_RECORD_PREFIX}{not json\n` + rec({ provider: 'rocm', ok: true }) + rec({ provider: 'cuda', ok: false, error: 'no' });
  const { outcomes } = readProbeTranscript(transcript, ['cuda'], clean);
  assert.deepEqual([...outcomes.keys()], ['cuda']);
  assert.deepEqual(outcomes.get('cuda'), { ok: false, reason: 'no' });
});

test('the probe child is found from source (the .ts file, with tsx) and from dist (the .js file)', async () => {
  const fromSource = probeChildCommand();
  assert.match(fromSource.file, /src[/\\]runtime[/\\]providerProbeChild\.ts$/);
  assert.ok(existsSync(fromSource.file));
  assert.equal(fromSource.execArgv[0], '--import');
  assert.match(fromSource.execArgv[1], /^file:.*tsx/);
  const built = new URL('../../dist/runtime/providerProbe.js', import.meta.url);
  if (!existsSync(built)) return; // dist/ exists after `npm run build`, which `npm test` runs first.
  const dist = (await import(built.href)) as { probeChildCommand: typeof probeChildCommand };
  const fromDist = dist.probeChildCommand();
  assert.match(fromDist.file, /dist[/\\]runtime[/\\]providerProbeChild\.js$/);
  assert.ok(existsSync(fromDist.file));
  assert.deepEqual(fromDist.execArgv, []);
});

test('probeProviders answers every provider asked, with a reason for each that does not start, and asks once per process', async () => {
  const first = await probeProviders(['cuda', 'webgpu']);
  assert.deepEqual([...first.keys()], ['cuda', 'webgpu']);
  for (const [provider, outcome] of first) {
    if (outcome.ok) continue;
    assert.ok(outcome.reason.length > 0, provider);
    // The child itself ran (from source, through tsx): the reason is the provider's, not the probe's.
    assert.doesNotMatch(outcome.reason, /probe did not run/, provider);
  }
  // No NVIDIA device here: CUDA cannot start, whatever libraries are installed.
  if (!existsSync('/dev/nvidia0')) assert.equal(first.get('cuda')?.ok, false);
  const started = performance.now();
  const again = await probeProviders(['webgpu', 'cuda']);
  assert.ok(performance.now() - started < 20, 'the second answer comes from the cache, not from another child');
  assert.deepEqual(again.get('cuda'), first.get('cuda'));
  assert.deepEqual(again.get('webgpu'), first.get('webgpu'));
});
