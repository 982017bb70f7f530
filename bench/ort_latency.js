#!/usr/bin/env node
// Median CPU latency of an ONNX model in ONNX Runtime (npm onnxruntime-node), batch 1 and 64, after
// warm-up, with one intra-op thread (a phone core, a small board) and with ONNX Runtime's default
// thread count. One JSON line per batch size and thread setting.
//   node bench/ort_latency.js MODEL.onnx [RUNS]
'use strict';
const ort = require('onnxruntime-node');

async function measure(model, threads, runs) {
  const options = { executionProviders: ['cpu'], graphOptimizationLevel: 'all' };
  if (threads > 0) Object.assign(options, { intraOpNumThreads: threads, interOpNumThreads: 1 });
  const session = await ort.InferenceSession.create(model, options);
  const name = session.inputNames[0];
  // The per-sample input shape from the model's metadata (symbolic batch dimension first).
  const meta = session.inputMetadata ? session.inputMetadata[0] : null;
  const dims = meta && meta.shape ? meta.shape.slice(1).map(Number) : JSON.parse(process.env.SNARE_INPUT_SHAPE);
  const fixedBatch = meta && meta.shape && typeof meta.shape[0] === 'number' ? meta.shape[0] : null;
  for (const batch of [1, 64]) {
    if (fixedBatch !== null && fixedBatch !== batch) continue;  // a model exported with a fixed batch size
    const shape = [batch, ...dims];
    const count = shape.reduce((a, b) => a * b, 1);
    const data = Float32Array.from({ length: count }, () => Math.random());
    const feeds = { [name]: new ort.Tensor('float32', data, shape) };
    const n = batch === 1 ? runs : Math.max(50, Math.floor(runs / 10));
    for (let i = 0; i < n / 5; ++i) await session.run(feeds);
    const ms = [];
    for (let i = 0; i < n; ++i) {
      const t0 = process.hrtime.bigint();
      await session.run(feeds);
      ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    ms.sort((a, b) => a - b);
    console.log(JSON.stringify({ runtime: 'onnxruntime', model, batch, threads: threads > 0 ? threads : 'default',
                                 median_ms: +ms[Math.floor(n / 2)].toFixed(4), runs: n }));
  }
  await session.release();
}

async function main(model, runs) {
  for (const threads of [1, 0]) await measure(model, threads, runs);
}

main(process.argv[2], Number(process.argv[3] || 2000)).catch((e) => {
  console.error(`ort_latency: ${e.message}`);
  process.exit(1);
});
