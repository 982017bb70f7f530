// snare — make trained networks small enough for weak hardware, within an accuracy tolerance.
//
// The C++ library behind the `snare` command, installed with `cmake --install` (headers under include/snare,
// CMake package `snare`: find_package(snare) and target_link_libraries(app snare::snare)). This header is the
// manual: it brings in the calls a program needs and says what each does. examples/reduce_my_model.cpp is a
// complete program.
//
// Errors: every call throws snare::Error kinds (common/error.h) that carry the exit code the CLI would use
// (option 2, model 3, unsupported 4, data 5, output 6) and a message that names the file, layer or option. A bad
// option is an OptionError whose field() names it as declared here ("SearchOptions::max_loss_pp").
//
// Threads: the library never changes LibTorch's intra-op thread count; call exec::set_threads(n) once at start
// (0 = every core) to choose it, as the snare command does from $SNARE_THREADS.
#pragma once

#include "common/error.h"

// ---- Models -----------------------------------------------------------------------------------------------------
// ir::Graph io::load_model(path): Keras .h5 (Keras 2 and 3), .keras, ONNX, by extension; the layers of
//   docs/keras.md and docs/onnx.md. Unsupported layers are listed all at once (UnsupportedError).
// void io::save_model(graph, path): the same formats, written atomically (a temporary file renamed).
#include "io/model_file.h"

// ---- Sizes ------------------------------------------------------------------------------------------------------
// analysis::ModelStats analysis::analyze(graph): parameters, non-zero parameters and MACs, per layer and in total.
#include "analysis/stats.h"

// ---- Data -------------------------------------------------------------------------------------------------------
// pipeline::DataOptions {spec, scale, mean, stddev, layout, ...}: a named data set ("mnist", "fashion-mnist",
//   "har", "wisdm", "NAME:PATH") or a user's files ("npz:PATH", "npy:DIR", "h5:PATH", "csv:PATH", "images:DIR");
//   docs/data.md.
// data::Dataset pipeline::load_data(options, model, &model): loads it in the model's layout and scaling and
//   records the scaling used into the model, so that a saved model carries it.
// ir::Graph pipeline::load_source({path, arch, seed}): a model file or a built-in architecture (arch/zoo.h).
#include "pipeline/sources.h"

// ---- Reduce -----------------------------------------------------------------------------------------------------
// pipeline::ReduceOptions: the model (source), the data, output file and report folder, the tolerance
//   (search.max_loss_pp, default 0.39 points), budgets, retraining settings; the defaults are the CLI's
//   (docs/cli.md, docs/search.md).
// pipeline::ReduceResult pipeline::reduce(options, callbacks): the whole SNARE run. It writes the reduced model
//   (and an .onnx beside it), report.json and report.html into the report folder, checkpoints after every
//   accepted step (options.resume continues a run; a checkpoint of another model, data or options is refused),
//   and returns the model and the report's content. callbacks.progress receives progress lines (common/progress.h);
//   setting *callbacks.stop stops the run before its next step, saved and resumable.
#include "pipeline/reduce.h"

// ---- Distributed runs -------------------------------------------------------------------------------------------
// dist::Group group(dist::DistConfig{world_size, rank, host, port, timeout_s}): meets the other processes of one run
//   (c10d with Gloo over TCP; dist::config_from_environment() reads torchrun's WORLD_SIZE, RANK, MASTER_ADDR,
//   MASTER_PORT). Every process calls pipeline::reduce with the same options and options.group = &group: training
//   is data-parallel, evaluation sharded, and rank 0 alone writes files. With options.search.trials = K, each
//   step's K best candidates retrain at once on groups of ranks instead. A peer that dies or hangs is a DistError.
//   docs/distributed.md.
#include "dist/group.h"

// ---- Reports ----------------------------------------------------------------------------------------------------
// void report::write_report(json, folder): report.json and the self-contained report.html of a result's report.
#include "report/report.h"

// ---- Threads ----------------------------------------------------------------------------------------------------
// void exec::set_threads(n): LibTorch's intra-op threads, n or every core when 0.
#include "exec/network.h"

// ---- Version ----------------------------------------------------------------------------------------------------
// snare::kVersion: the library's version (the CMake project version).
#include "common/version.h"
