// fuzz_make_seeds DIR: writes the seed corpus of every reader into DIR/<reader>/: the seed graphs (seed_graphs.h) as
// .h5, .keras and .onnx files and as keras_config inputs, and small valid IDX, NPY, CSV and ARFF files with the
// variants each reader accepts (gzip, byte orders, string labels). scripts/fuzz.sh adds the real files of
// ../shared and the regression inputs of tests/fuzz.
#include <fmt/format.h>
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "common/error.h"
#include "fuzz/readers.h"
#include "fuzz/seed_graphs.h"
#include "io/keras/keras.h"
#include "io/onnx/onnx.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;
using namespace snare;

namespace {

std::string gzip(const std::string& bytes, const fs::path& scratch) {
  gzFile f = gzopen(scratch.c_str(), "wb");
  gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(f);
  return test::read_file(scratch.string());
}

/// An IDX file: magic 0x0000 08 RANK, big-endian dims, then the bytes.
std::string idx(const std::vector<uint32_t>& dims) {
  std::string out{'\0', '\0', '\x08', static_cast<char>(dims.size())};
  size_t n = 1;
  for (uint32_t d : dims) {
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((d >> shift) & 0xff));
    n *= d;
  }
  for (size_t i = 0; i < n; ++i) out.push_back(static_cast<char>(i * 37 % 251));
  return out;
}

/// A version 1.0 NPY file with `descr` and `shape` (a Python tuple as text) holding `data`.
std::string npy(const std::string& descr, const std::string& shape, const std::string& data, bool fortran = false) {
  std::string header = fmt::format("{{'descr': '{}', 'fortran_order': {}, 'shape': {}, }}", descr,
                                   fortran ? "True" : "False", shape);
  while ((10 + header.size() + 1) % 64 != 0) header.push_back(' ');
  header.push_back('\n');
  std::string out = "\x93NUMPY";
  out.push_back('\x01');
  out.push_back('\x00');
  out.push_back(static_cast<char>(header.size() & 0xff));
  out.push_back(static_cast<char>(header.size() >> 8));
  return out + header + data;
}

std::string bytes_of(size_t n, int step) {
  std::string s;
  for (size_t i = 0; i < n; ++i) s.push_back(static_cast<char>(i * step % 7));
  return s;
}

std::string floats(const std::vector<float>& v, bool big_endian = false) {
  std::string s(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
  if (big_endian) {
    for (size_t i = 0; i < s.size(); i += 4) std::swap(s[i], s[i + 3]), std::swap(s[i + 1], s[i + 2]);
  }
  return s;
}

/// A WISDM-shaped ARFF (as ../shared's): UNIQUE_ID, user, 43 numeric features, class; one row with missing values.
std::string arff() {
  std::string s = "@relation activity_recognition_labeled\n\n@attribute \"UNIQUE_ID\" numeric\n@attribute \"user\" \n";
  for (int i = 0; i < 43; ++i) s += fmt::format("@attribute \"F{}\" numeric\n", i);
  s += "@attribute class\n\n@data\n";
  const char* classes[] = {"Walking", "Jogging", "Upstairs", "Downstairs", "Sitting", "Standing"};
  for (int r = 0; r < 6; ++r) {
    s += fmt::format("{},{}", r + 1, 33 + r % 3);
    for (int i = 0; i < 43; ++i) s += fmt::format(",{}", (r * 43 + i) % 17 * 0.25);
    s += fmt::format(",{}\n", classes[r]);
  }
  s += "7,35";
  for (int i = 0; i < 43; ++i) s += i % 5 == 0 ? ",?" : ",1";
  return s + ",Walking\n";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_make_seeds DIR\n");
    return 2;
  }
  const fs::path dir = argv[1];
  fs::create_directories(dir);
  const fs::path scratch = dir / ".scratch";
  int models = 0;
  for (const ir::Graph& g : fuzz::seed_graphs()) {
    for (const auto& [reader, ext] : {std::pair{"keras_h5", ".h5"}, {"keras_zip", ".keras"}, {"onnx", ".onnx"}}) {
      const fs::path tmp = scratch.string() + ext;
      try {
        if (std::string(ext) == ".onnx") io::onnx::write_onnx(g, tmp);
        else io::keras::write_keras(g, tmp);
      } catch (const Error& e) {
        std::fprintf(stderr, "fuzz_make_seeds: %s as %s left out: %s\n", g.name.c_str(), ext, e.what());
        continue;
      }
      test::write_file(dir / reader / (g.name + ext), test::read_file(tmp.string()));
      fs::remove(tmp);
      ++models;
    }
  }
  const auto& templates = fuzz::config_templates();
  for (size_t k = 0; k < templates.size(); ++k) {
    test::write_file(dir / "keras_config" / (templates[k].name + ".json"), std::string(1, static_cast<char>(k)) + templates[k].config_json);
  }

  test::write_file(dir / "idx" / "images.idx", idx({3, 4, 5}));
  test::write_file(dir / "idx" / "labels.idx", idx({6}));
  test::write_file(dir / "idx" / "images.idx.gz", gzip(idx({2, 3, 3}), scratch));
  test::write_file(dir / "idx" / "matrix.idx", idx({2, 2, 2, 2}));

  test::write_file(dir / "npy" / "u8.npy", npy("|u1", "(3, 4, 4)", bytes_of(48, 3)));
  test::write_file(dir / "npy" / "f4.npy", npy("<f4", "(2, 3)", floats({0.5f, -1, 2, 3, 4.25f, 5})));
  test::write_file(dir / "npy" / "f4_big_endian.npy", npy(">f4", "(2, 3)", floats({0.5f, -1, 2, 3, 4.25f, 5}, true)));
  test::write_file(dir / "npy" / "f4_fortran.npy", npy("<f4", "(2, 3)", floats({0.5f, -1, 2, 3, 4.25f, 5}), true));
  test::write_file(dir / "npy" / "labels_i8.npy", npy("<i8", "(4,)", std::string("\1\0\0\0\0\0\0\0\2\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\3\0\0\0\0\0\0\0", 32)));
  test::write_file(dir / "npy" / "onehot.npy", npy("<f4", "(2, 2)", floats({1, 0, 0, 1})));

  test::write_file(dir / "csv" / "numeric.csv", "a,b,c,label\n1,2,3,0\n4.5,-6,7e-3,1\n8,9,10,2\n");
  test::write_file(dir / "csv" / "strings.csv", "x,\"y, quoted\",class\n0.1,0.2,walk\n0.3,0.4,run\n\"0.5\",0.6,walk\n");
  test::write_file(dir / "csv" / "crlf.csv", "f1;f2;label\r\n1;2;a\r\n3;4;b\r\n");

  test::write_file(dir / "arff" / "wisdm.arff", arff());
  fs::remove(scratch);
  std::printf("fuzz_make_seeds: %d model files, %zu configs and the data seeds in %s\n", models, templates.size(),
              dir.c_str());
  return 0;
}
