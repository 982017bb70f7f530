#!/usr/bin/env node
// Runs an ONNX model in ONNX Runtime (npm onnxruntime-node, CPU) on one float32 input.
//
//   node tools/ort_run.js MODEL.onnx INPUT.f32 N,C,H,W OUTPUT.f32
//
// INPUT.f32 holds the input tensor as raw little-endian float32 in row-major order with the given
// shape; it is fed to the model's first input. The first output is written to OUTPUT.f32 the same
// way, and one line of JSON goes to stdout: {"input": name, "output": name, "shape": [...], "type": ...}.
// An input of another element type (uint8, int32, ... for models that Cast their input) gets the float
// values converted; an integer output (ArgMax) is written as float32 too, and "type" names its real type.
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
  const inputType = (session.inputMetadata && session.inputMetadata[0] && session.inputMetadata[0].type) || 'float32';
  const arrays = {
    float32: Float32Array, float64: Float64Array, uint8: Uint8Array, int8: Int8Array, uint16: Uint16Array,
    int16: Int16Array, int32: Int32Array,
  };
  let feed;
  if (inputType === 'int64') {
    feed = BigInt64Array.from(data, (v) => BigInt(Math.trunc(v)));
  } else if (arrays[inputType]) {
    feed = arrays[inputType].from(data);
  } else {
    throw new Error(`input '${inputName}' has element type ${inputType}, which ort_run cannot feed`);
  }
  const results = await session.run({ [inputName]: new ort.Tensor(inputType, feed, shape) });
  const out = results[outputName];
  if (out.type === 'string' || out.type === 'bool') throw new Error(`output '${outputName}' is ${out.type}, not numeric`);
  const buffer = Buffer.alloc(out.data.length * 4);
  for (let i = 0; i < out.data.length; ++i) buffer.writeFloatLE(Number(out.data[i]), i * 4);
  fs.writeFileSync(outputPath, buffer);
  process.stdout.write(JSON.stringify({ input: inputName, output: outputName, shape: out.dims, type: out.type }) + '\n');
}

main(process.argv.slice(2)).catch((e) => {
  process.stderr.write(`ort_run: ${e.message}\n`);
  process.exit(1);
});
