#!/usr/bin/env node
// Runs an ONNX model in ONNX Runtime (npm onnxruntime-node, CPU) on one float32 input.
//
//   node tools/ort_run.js MODEL.onnx INPUT.f32 N,C,H,W OUTPUT.f32
//
// INPUT.f32 holds the input tensor as raw little-endian float32 in row-major order with the given
// shape; it is fed to the model's first input. The first output is written to OUTPUT.f32 the same
// way, and one line of JSON goes to stdout: {"input": name, "output": name, "shape": [...]}.
// Errors go to stderr with exit code 1. Used by the io_onnx tests to check exported models.
'use strict';

const fs = require('fs');

async function main(argv) {
  if (argv.length !== 4) {
    throw new Error('usage: node tools/ort_run.js MODEL.onnx INPUT.f32 SHAPE(N,C,...) OUTPUT.f32');
  }
  const [modelPath, inputPath, shapeText, outputPath] = argv;
  const shape = shapeText.split(',').map((s) => {
    const v = Number(s);
    if (!Number.isInteger(v) || v < 0) throw new Error(`bad shape '${shapeText}': '${s}' is not a size`);
    return v;
  });
  const count = shape.reduce((a, b) => a * b, 1);
  const bytes = fs.readFileSync(inputPath);
  if (bytes.length !== count * 4) {
    throw new Error(`${inputPath}: ${bytes.length} bytes but shape [${shape}] needs ${count * 4}`);
  }
  const data = new Float32Array(count);
  for (let i = 0; i < count; ++i) data[i] = bytes.readFloatLE(i * 4);

  const ort = require('onnxruntime-node');
  const session = await ort.InferenceSession.create(modelPath, { executionProviders: ['cpu'], graphOptimizationLevel: 'all' });
  const inputName = session.inputNames[0];
  const outputName = session.outputNames[0];
  const results = await session.run({ [inputName]: new ort.Tensor('float32', data, shape) });
  const out = results[outputName];
  if (out.type !== 'float32') throw new Error(`output '${outputName}' is ${out.type}, not float32`);
  const buffer = Buffer.alloc(out.data.length * 4);
  for (let i = 0; i < out.data.length; ++i) buffer.writeFloatLE(out.data[i], i * 4);
  fs.writeFileSync(outputPath, buffer);
  process.stdout.write(JSON.stringify({ input: inputName, output: outputName, shape: out.dims }) + '\n');
}

main(process.argv.slice(2)).catch((e) => {
  process.stderr.write(`ort_run: ${e.message}\n`);
  process.exit(1);
});
