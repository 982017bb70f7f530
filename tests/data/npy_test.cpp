#include "data/npy.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "common/error.h"
#include "common/hdf5_heaps.h"
#include "data/h5_array.h"
#include "python_util.h"
#include "temp_dir.h"

namespace snare::data {
namespace {

using test::read_file;
using test::TempDir;
using test::contains;
using test::data_error_of;
using test::python_has;
using test::write_file;
using Strings = std::vector<std::string>;
using Shape = std::vector<int64_t>;

/// Runs `script` with Debian's python inside `tmp` (numpy imported as np); true when it succeeds.
bool run_python(const TempDir& tmp, const std::string& script) { return test::run_python_in(tmp, "", script); }

/// All rows of `src` as a tensor of its dtype.
at::Tensor read_all(ArraySource& src) {
  at::Tensor t = at::empty(src.info().shape, at::TensorOptions().dtype(src.info().dtype));
  src.read_rows(0, src.info().rows(), t.data_ptr());
  return t;
}

/// The bytes of a tensor in C order.
std::string bytes_of(const at::Tensor& t) {
  at::Tensor c = t.contiguous();
  return std::string(static_cast<const char*>(c.data_ptr()), c.nbytes());
}

/// The elements of a tensor as doubles.
std::vector<double> doubles(const at::Tensor& t) {
  at::Tensor c = t.to(at::kDouble).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

/// An NPY file: magic, version, little-endian header length, the dictionary padded to 64 bytes, then `data`.
std::string npy_bytes(const std::string& dict, const std::string& data, int major = 1) {
  const size_t prefix = major == 1 ? 10 : 12;
  std::string header = dict;
  while ((prefix + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out("\x93NUMPY", 6);
  out += static_cast<char>(major);
  out += '\0';
  const size_t n = header.size();
  for (size_t i = 0; i < prefix - 8; ++i) out += static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + data;
}

std::string dict_of(const std::string& descr, const std::string& shape, bool fortran = false) {
  return "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") + ", 'shape': " + shape + ", }";
}

/// Little-endian bytes of `v`, `width` of them.
std::string le(uint64_t v, size_t width) {
  std::string s;
  for (size_t i = 0; i < width; ++i) s += static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}

// ---- Files numpy writes -----------------------------------------------------------------------------------------

/// Element i of the array the dtype test saves as `name` (base = np.arange(60)).
double dtype_value(const std::string& name, int64_t i) {
  if (name == "uint8") return static_cast<double>(i * 4);
  if (name == "int8") return static_cast<double>(i - 30);
  if (name == "int16") return static_cast<double>(i * 500 - 10000);
  if (name == "int32") return static_cast<double>(i * 100000 - 3000000);
  if (name == "int64") return static_cast<double>(i * (int64_t{1} << 40) - (int64_t{1} << 45));
  if (name == "float16") return static_cast<double>(i - 30) * 0.5;
  if (name == "float32") return static_cast<double>(static_cast<float>(static_cast<double>(i - 30) * 0.1));
  if (name == "float64") return static_cast<double>(i - 30) / 3.0;
  if (name == "bool") return i % 3 == 0 ? 1.0 : 0.0;
  ADD_FAILURE() << name;
  return 0;
}

TEST(Npy, EveryDtypeReadsExactly) {
  if (!python_has("numpy")) GTEST_SKIP() << "needs /usr/bin/python3 with numpy";
  TempDir tmp;
  ASSERT_TRUE(run_python(tmp,
                         "base = np.arange(60).reshape(3, 4, 5)\n"
                         "arrays = {'uint8': (base * 4).astype(np.uint8), 'int8': (base - 30).astype(np.int8),\n"
                         "  'int16': (base * 500 - 10000).astype(np.int16),\n"
                         "  'int32': (base * 100000 - 3000000).astype(np.int32),\n"
                         "  'int64': (base * 2**40 - 2**45).astype(np.int64),\n"
                         "  'float16': ((base - 30) * 0.5).astype(np.float16),\n"
                         "  'float32': ((base - 30) * 0.1).astype(np.float32), 'float64': (base - 30) / 3.0,\n"
                         "  'bool': base % 3 == 0}\n"
                         "for name, a in arrays.items():\n"
                         "  np.save(name + '.npy', a)\n"
                         "  a.tofile(name + '.raw')\n"));
  const std::vector<std::pair<std::string, at::ScalarType>> kinds = {
      {"uint8", at::kByte},  {"int8", at::kChar},    {"int16", at::kShort},   {"int32", at::kInt}, {"int64", at::kLong},
      {"float16", at::kHalf}, {"float32", at::kFloat}, {"float64", at::kDouble}, {"bool", at::kBool}};
  for (const auto& [name, dtype] : kinds) {
    SCOPED_TRACE(name);
    const std::string path = tmp.str(name + ".npy");
    auto src = open_npy(path);
    const ArrayInfo& a = src->info();
    EXPECT_EQ(a.where, path);
    EXPECT_EQ(a.shape, (Shape{3, 4, 5}));
    EXPECT_EQ(a.dtype, dtype);
    EXPECT_EQ(dtype_name(a.dtype), name);
    EXPECT_EQ(a.rows(), 3);
    EXPECT_EQ(a.row_elements(), 20);
    EXPECT_EQ(a.row_bytes(), 20 * static_cast<int64_t>(c10::elementSize(dtype)));
    at::Tensor t = read_all(*src);
    EXPECT_TRUE(bytes_of(t) == read_file(tmp.str(name + ".raw"))) << "bytes differ from numpy's tofile";
    std::vector<double> expected;
    for (int64_t i = 0; i < 60; ++i) expected.push_back(dtype_value(name, i));
    EXPECT_EQ(doubles(t), expected);
  }
}

TEST(Npy, BigEndianIsSwappedToNative) {
  if (!python_has("numpy")) GTEST_SKIP() << "needs /usr/bin/python3 with numpy";
  TempDir tmp;
  ASSERT_TRUE(run_python(tmp,
                         "base = np.arange(24).reshape(4, 6)\n"
                         "arrays = {'i4': base * 100003 - 1000000, 'f8': base / 7.0 - 1.5, 'i8': base * 2**33 - 5,\n"
                         "  'i2': base * 1000 - 12000, 'f2': base * 0.25 - 3, 'f4': base / 3.0}\n"
                         "for code, a in arrays.items():\n"
                         "  np.save('be_' + code + '.npy', a.astype('>' + code))\n"
                         "  a.astype('<' + code).tofile('be_' + code + '.raw')\n"));
  const std::vector<std::pair<std::string, at::ScalarType>> kinds = {{"i4", at::kInt},   {"f8", at::kDouble},
                                                                      {"i8", at::kLong},  {"i2", at::kShort},
                                                                      {"f2", at::kHalf},  {"f4", at::kFloat}};
  for (const auto& [code, dtype] : kinds) {
    SCOPED_TRACE(code);
    const std::string path = tmp.str("be_" + code + ".npy");
    NpyHeader h = parse_npy_header(read_file(path, 256), path);
    EXPECT_TRUE(h.big_endian);
    EXPECT_FALSE(h.fortran_order);
    auto src = open_npy(path);
    EXPECT_EQ(src->info().dtype, dtype);
    EXPECT_EQ(src->info().shape, (Shape{4, 6}));
    at::Tensor t = read_all(*src);
    EXPECT_TRUE(bytes_of(t) == read_file(tmp.str("be_" + code + ".raw"))) << "not swapped to little-endian";
  }
  // Spot checks against the formula, so a wrong raw file cannot hide a wrong reader.
  auto i4 = open_npy(tmp.str("be_i4.npy"));
  at::Tensor t = read_all(*i4);
  EXPECT_EQ(t[0][0].item<int32_t>(), -1000000);
  EXPECT_EQ(t[3][5].item<int32_t>(), 23 * 100003 - 1000000);
  auto f8 = open_npy(tmp.str("be_f8.npy"));
  t = read_all(*f8);
  EXPECT_EQ(t[2][1].item<double>(), 13 / 7.0 - 1.5);
}

TEST(Npy, FortranOrderReadsAsCOrder) {
  if (!python_has("numpy")) GTEST_SKIP() << "needs /usr/bin/python3 with numpy";
  TempDir tmp;
  ASSERT_TRUE(run_python(tmp,
                         "arrays = {'f2d': (np.arange(35).reshape(5, 7) * 0.25).astype(np.float32),\n"
                         "  'f4d': (np.arange(120).reshape(3, 2, 4, 5) - 60).astype(np.int16),\n"
                         "  'f4be': (np.arange(120).reshape(4, 3, 2, 5) / 9.0).astype('>f8'),\n"
                         "  'f2u8': (np.arange(40).reshape(8, 5) * 3).astype(np.uint8)}\n"
                         "for name, a in arrays.items():\n"
                         "  f = np.asfortranarray(a)\n"
                         "  assert f.flags.f_contiguous and not f.flags.c_contiguous\n"
                         "  np.save(name + '.npy', f)\n"
                         "  np.ascontiguousarray(a).astype(a.dtype.newbyteorder('<')).tofile(name + '.raw')\n"));
  const std::vector<std::pair<std::string, Shape>> files = {
      {"f2d", {5, 7}}, {"f4d", {3, 2, 4, 5}}, {"f4be", {4, 3, 2, 5}}, {"f2u8", {8, 5}}};
  for (const auto& [name, shape] : files) {
    SCOPED_TRACE(name);
    const std::string path = tmp.str(name + ".npy");
    EXPECT_TRUE(parse_npy_header(read_file(path, 256), path).fortran_order);
    auto whole = open_npy(path);
    EXPECT_EQ(whole->info().shape, shape);
    const std::string raw = read_file(tmp.str(name + ".raw"));
    EXPECT_TRUE(bytes_of(read_all(*whole)) == raw);
    // By rows too: [1, 3) then the rest.
    auto parts = open_npy(path);
    const int64_t row = parts->info().row_bytes(), rows = parts->info().rows();
    std::string buf(static_cast<size_t>(row * rows), '\0');
    parts->read_rows(1, 2, buf.data() + row);
    parts->read_rows(3, rows - 3, buf.data() + 3 * row);
    EXPECT_TRUE(buf.substr(static_cast<size_t>(row)) == raw.substr(static_cast<size_t>(row)));
  }
  auto f4d = open_npy(tmp.str("f4d.npy"));
  at::Tensor t = read_all(*f4d);
  EXPECT_EQ(t[2][1][3][4].item<int16_t>(), ((2 * 2 + 1) * 4 + 3) * 5 + 4 - 60);
}

TEST(Npy, FormatVersions2And3) {
  if (!python_has("numpy")) GTEST_SKIP() << "needs /usr/bin/python3 with numpy";
  TempDir tmp;
  ASSERT_TRUE(run_python(tmp,
                         "a = np.arange(30, dtype=np.float32).reshape(5, 6) - 7.5\n"
                         "for v in (2, 3):\n"
                         "  with open('v%d.npy' % v, 'wb') as f:\n"
                         "    np.lib.format.write_array(f, a, version=(v, 0))\n"
                         "a.tofile('v.raw')\n"));
  for (const char* name : {"v2.npy", "v3.npy"}) {
    SCOPED_TRACE(name);
    const std::string path = tmp.str(name);
    const std::string bytes = read_file(path);
    ASSERT_GT(bytes.size(), 12u);
    EXPECT_EQ(bytes[6], name[1] - '0');  // the major version numpy wrote
    NpyHeader h = parse_npy_header(bytes, path);
    EXPECT_EQ(h.data_offset % 64, 0);
    EXPECT_EQ(h.shape, (Shape{5, 6}));
    auto src = open_npy(path);
    at::Tensor t = read_all(*src);
    EXPECT_TRUE(bytes_of(t) == read_file(tmp.str("v.raw")));
    EXPECT_TRUE(at::equal(t, at::arange(30, at::kFloat).reshape({5, 6}) - 7.5));
  }
}

TEST(Npy, RowsInBlocksEqualTheWhole) {
  if (!python_has("numpy")) GTEST_SKIP() << "needs /usr/bin/python3 with numpy";
  TempDir tmp;
  ASSERT_TRUE(run_python(tmp,
                         "a = np.arange(120).reshape(10, 3, 4) * 1.5\n"
                         "np.save('blocks.npy', a)\n"
                         "np.save('blocks_be.npy', a.astype('>f4'))\n"));
  const at::Tensor expected = at::arange(120, at::kDouble).reshape({10, 3, 4}) * 1.5;
  auto src = open_npy(tmp.str("blocks.npy"));
  at::Tensor blocks = at::empty({10, 3, 4}, at::kDouble);
  src->read_rows(0, 3, blocks[0].data_ptr());
  src->read_rows(3, 4, blocks[3].data_ptr());
  src->read_rows(7, 0, blocks[7].data_ptr());  // an empty block is fine
  src->read_rows(7, 3, blocks[7].data_ptr());
  EXPECT_TRUE(at::equal(blocks, expected));
  // A first read that starts in the middle.
  auto late = open_npy(tmp.str("blocks_be.npy"));
  at::Tensor tail = at::empty({3, 3, 4}, at::kFloat);
  late->read_rows(6, 3, tail.data_ptr());
  EXPECT_TRUE(at::equal(tail, expected.slice(0, 6, 9).to(at::kFloat)));
  at::Tensor last = at::empty({1, 3, 4}, at::kFloat);
  late->read_rows(9, 1, last.data_ptr());
  EXPECT_TRUE(at::equal(last, expected.slice(0, 9, 10).to(at::kFloat)));
}

TEST(Npy, TruncatedFileNamesTheFile) {
  if (!python_has("numpy")) GTEST_SKIP() << "needs /usr/bin/python3 with numpy";
  TempDir tmp;
  ASSERT_TRUE(run_python(tmp, "np.save('full.npy', np.arange(100, dtype=np.int32).reshape(10, 10))\n"));
  const std::string full = read_file(tmp.str("full.npy"));
  ASSERT_EQ(full.size(), 128u + 400u);
  const std::string cut = tmp.str("cut.npy");
  write_file(cut, full.substr(0, full.size() - 7));
  std::string m = data_error_of([&] { open_npy(cut); });
  EXPECT_TRUE(contains(m, cut)) << m;
  EXPECT_TRUE(contains(m, "truncated")) << m;
  EXPECT_TRUE(contains(m, "528")) << m;  // the bytes needed
  EXPECT_TRUE(contains(m, "521")) << m;  // the bytes there
  // Cut inside the header.
  write_file(cut, full.substr(0, 40));
  m = data_error_of([&] { open_npy(cut); });
  EXPECT_TRUE(contains(m, cut)) << m;
  EXPECT_TRUE(contains(m, "truncated")) << m;
}

TEST(Npy, ObjectArraysAreRefusedNeverUnpickled) {
  if (!python_has("numpy")) GTEST_SKIP() << "needs /usr/bin/python3 with numpy";
  TempDir tmp;
  ASSERT_TRUE(run_python(tmp, "np.save('obj.npy', np.array([{}, 1], dtype=object), allow_pickle=True)\n"));
  const std::string path = tmp.str("obj.npy");
  const std::string m = data_error_of([&] { open_npy(path); });
  EXPECT_TRUE(contains(m, path)) << m;
  // numpy writes an object array's descr as '|O' (2 characters): the message must still say why it is refused.
  EXPECT_TRUE(contains(m, "unpickle")) << m;
  EXPECT_TRUE(contains(m, "objects")) << m;
}

TEST(Npy, UnsupportedDtypesAreNamed) {
  if (!python_has("numpy")) GTEST_SKIP() << "needs /usr/bin/python3 with numpy";
  TempDir tmp;
  ASSERT_TRUE(run_python(tmp,
                         "np.save('u16.npy', np.arange(6, dtype=np.uint16))\n"
                         "np.save('c64.npy', np.arange(6).astype(np.complex64))\n"
                         "np.save('rec.npy', np.zeros(3, dtype=[('a', '<i4'), ('b', '<f4')]))\n"
                         "np.save('str.npy', np.array(['ab', 'c']))\n"));
  std::string m = data_error_of([&] { open_npy(tmp.str("u16.npy")); });
  EXPECT_TRUE(contains(m, tmp.str("u16.npy"))) << m;
  EXPECT_TRUE(contains(m, "'<u2'")) << m;
  m = data_error_of([&] { open_npy(tmp.str("c64.npy")); });
  EXPECT_TRUE(contains(m, tmp.str("c64.npy"))) << m;
  EXPECT_TRUE(contains(m, "'<c8'")) << m;
  m = data_error_of([&] { open_npy(tmp.str("rec.npy")); });
  EXPECT_TRUE(contains(m, tmp.str("rec.npy"))) << m;
  EXPECT_TRUE(contains(m, "structured")) << m;
  EXPECT_TRUE(contains(m, "('a', '<i4')")) << m;
  m = data_error_of([&] { open_npy(tmp.str("str.npy")); });
  EXPECT_TRUE(contains(m, "'<U2'")) << m;
}

// ---- NPY bytes written here ---------------------------------------------------------------------------------------

TEST(NpyHeader, ParsesAHandWrittenHeader) {
  const std::string bytes = npy_bytes(dict_of("<i2", "(3, 2)"), "");
  NpyHeader h = parse_npy_header(bytes, "mem");
  EXPECT_EQ(h.dtype, at::kShort);
  EXPECT_FALSE(h.big_endian);
  EXPECT_FALSE(h.fortran_order);
  EXPECT_EQ(h.shape, (Shape{3, 2}));
  EXPECT_EQ(h.data_offset, static_cast<int64_t>(bytes.size()));
  EXPECT_EQ(h.data_offset % 64, 0);
  // Double quotes, no spaces, Python 2 longs, a 1-D shape, version 2.0.
  const std::string v2 = npy_bytes("{\"descr\":\">f8\",\"fortran_order\":True,\"shape\":(4L, 5L)}", "", 2);
  h = parse_npy_header(v2 + "data", "mem");
  EXPECT_EQ(h.dtype, at::kDouble);
  EXPECT_TRUE(h.big_endian);
  EXPECT_TRUE(h.fortran_order);
  EXPECT_EQ(h.shape, (Shape{4, 5}));
  EXPECT_EQ(h.data_offset, static_cast<int64_t>(v2.size()));
  h = parse_npy_header(npy_bytes(dict_of("|u1", "(7,)"), ""), "mem");
  EXPECT_EQ(h.dtype, at::kByte);
  EXPECT_EQ(h.shape, (Shape{7}));
}

TEST(Npy, ReadsHandWrittenFiles) {
  TempDir tmp;
  std::string data;
  for (int v : {1, -2, 300, -400, 32767, -32768}) data += le(static_cast<uint16_t>(v), 2);
  write_file(tmp.str("i2.npy"), npy_bytes(dict_of("<i2", "(3, 2)"), data));
  auto src = open_npy(tmp.str("i2.npy"));
  EXPECT_EQ(test::values<int16_t>(read_all(*src)), (std::vector<int16_t>{1, -2, 300, -400, 32767, -32768}));
  // Big-endian float32 1.5 and -2.0, Fortran order of a 2x2 [[1, 2], [3, 4]] as float64.
  write_file(tmp.str("be.npy"), npy_bytes(dict_of(">f4", "(2,)"), std::string("\x3f\xc0\x00\x00\xc0\x00\x00\x00", 8)));
  src = open_npy(tmp.str("be.npy"));
  EXPECT_EQ(test::values<float>(read_all(*src)), (std::vector<float>{1.5f, -2.0f}));
  std::string f;
  for (double v : {1.0, 3.0, 2.0, 4.0}) f += std::string(reinterpret_cast<const char*>(&v), 8);
  write_file(tmp.str("f.npy"), npy_bytes(dict_of("<f8", "(2, 2)", true), f));
  src = open_npy(tmp.str("f.npy"));
  EXPECT_EQ(test::values<double>(read_all(*src)), (std::vector<double>{1, 2, 3, 4}));
  // Bytes after the data are ignored.
  write_file(tmp.str("extra.npy"), npy_bytes(dict_of("|b1", "(3,)"), std::string("\x01\x00\x01junk", 7)));
  src = open_npy(tmp.str("extra.npy"));
  EXPECT_EQ(src->info().dtype, at::kBool);
  EXPECT_EQ(test::values<bool>(read_all(*src)), (std::vector<bool>{true, false, true}));
}

TEST(Npy, CorruptHandWrittenFilesAreDataErrors) {
  TempDir tmp;
  const std::string path = tmp.str("bad.npy");
  auto error_of = [&](const std::string& bytes) {
    write_file(path, bytes);
    std::string m = data_error_of([&] { open_npy(path); });
    EXPECT_TRUE(contains(m, path)) << m;
    return m;
  };
  std::string good = npy_bytes(dict_of("<f8", "(4,)"), std::string(32, '\0'));
  std::string bad_magic = good;
  bad_magic[1] = 'M';
  EXPECT_TRUE(contains(error_of(bad_magic), "magic"));
  EXPECT_TRUE(contains(error_of("a,b\n1,2\n"), "magic"));
  EXPECT_TRUE(contains(error_of(""), "magic"));
  std::string m = error_of(good.substr(0, good.size() - 1));
  EXPECT_TRUE(contains(m, "truncated")) << m;
  EXPECT_TRUE(contains(m, "needs " + std::to_string(good.size()) + " bytes, the file has " +
                           std::to_string(good.size() - 1)))
      << m;
  std::string v4 = good;
  v4[6] = 4;
  EXPECT_TRUE(contains(error_of(v4), "version 4")) << v4;
  m = error_of(npy_bytes("{'descr': '<f8', 'fortran_order': False, }", ""));
  EXPECT_TRUE(contains(m, "'shape'")) << m;
  m = error_of(npy_bytes(dict_of("<f8", "(4, x)"), std::string(32, '\0')));
  EXPECT_TRUE(contains(m, "shape")) << m;
  m = error_of(npy_bytes("{'descr': '<f8', 'fortran_order': Maybe, 'shape': (4,), }", std::string(32, '\0')));
  EXPECT_TRUE(contains(m, "malformed")) << m;
  m = error_of(npy_bytes(dict_of("<f8", "()"), std::string(8, '\0')));
  EXPECT_TRUE(contains(m, "scalar")) << m;
  m = error_of(npy_bytes(dict_of("<u4", "(4,)"), std::string(16, '\0')));
  EXPECT_TRUE(contains(m, "'<u4'")) << m;
  // A header length pointing past the end of the file.
  std::string long_header = good.substr(0, 20);
  long_header[8] = '\xff';
  m = error_of(long_header);
  EXPECT_TRUE(contains(m, "truncated")) << m;
  m = data_error_of([&] { open_npy(tmp.str("missing.npy")); });
  EXPECT_TRUE(contains(m, tmp.str("missing.npy"))) << m;
}

TEST(Npy, HandWrittenObjectArrayIsRefused) {
  TempDir tmp;
  const std::string path = tmp.str("obj.npy");
  write_file(path, npy_bytes(dict_of("|O", "(2,)"), "\x80\x04not-really-a-pickle."));
  const std::string m = data_error_of([&] { open_npy(path); });
  EXPECT_TRUE(contains(m, path)) << m;
  EXPECT_TRUE(contains(m, "unpickle")) << m;
}

// ---- NPZ --------------------------------------------------------------------------------------------------------

const char kNpzScript[] =
    "arrays = {'x': (np.arange(6 * 4 * 4 * 2).reshape(6, 4, 4, 2) % 256).astype(np.uint8),\n"
    "  'y': np.arange(6, dtype=np.int64) % 3,\n"
    "  'f': np.asfortranarray((np.arange(30).reshape(6, 5) / 4.0).astype(np.float32)),\n"
    "  'b': (np.arange(12).reshape(6, 2) * 1000 - 5000).astype('>i4'),\n"
    "  'h': (np.arange(6) * 0.5).astype(np.float16)}\n"
    "np.savez('plain.npz', **arrays)\n"
    "np.savez_compressed('packed.npz', **arrays)\n"
    "for name, a in arrays.items():\n"
    "  np.ascontiguousarray(a).astype(a.dtype.newbyteorder('<')).tofile(name + '.raw')\n";

TEST(Npz, SavezAndSavezCompressedReadExactly) {
  if (!python_has("numpy")) GTEST_SKIP() << "needs /usr/bin/python3 with numpy";
  TempDir tmp;
  ASSERT_TRUE(run_python(tmp, kNpzScript));
  const std::vector<std::tuple<std::string, Shape, at::ScalarType>> members = {{"x", {6, 4, 4, 2}, at::kByte},
                                                                               {"y", {6}, at::kLong},
                                                                               {"f", {6, 5}, at::kFloat},
                                                                               {"b", {6, 2}, at::kInt},
                                                                               {"h", {6}, at::kHalf}};
  for (const char* archive : {"plain.npz", "packed.npz"}) {
    SCOPED_TRACE(archive);
    const std::string path = tmp.str(archive);
    EXPECT_TRUE(is_zip_file(path));
    Strings names = npz_members(path);
    std::sort(names.begin(), names.end());
    EXPECT_EQ(names, (Strings{"b", "f", "h", "x", "y"}));
    for (const auto& [name, shape, dtype] : members) {
      SCOPED_TRACE(name);
      auto src = open_npz_member(path, name);
      ASSERT_NE(src, nullptr);
      EXPECT_EQ(src->info().where, path + ": " + name);
      EXPECT_EQ(src->info().shape, shape);
      EXPECT_EQ(src->info().dtype, dtype);
      EXPECT_TRUE(bytes_of(read_all(*src)) == read_file(tmp.str(name + ".raw")));
    }
    EXPECT_EQ(open_npz_member(path, "nope"), nullptr);
    EXPECT_EQ(open_npz_member(path, "x_train"), nullptr);
    // A member streamed in blocks of rows.
    auto x = open_npz_member(path, "x");
    ASSERT_NE(x, nullptr);
    const int64_t row = x->info().row_bytes();
    std::string buf(static_cast<size_t>(6 * row), '\0');
    x->read_rows(0, 1, buf.data());
    x->read_rows(1, 3, buf.data() + row);
    x->read_rows(4, 2, buf.data() + 4 * row);
    EXPECT_TRUE(buf == read_file(tmp.str("x.raw")));
    auto y = open_npz_member(path, "y");
    ASSERT_NE(y, nullptr);
    EXPECT_EQ(test::values<int64_t>(read_all(*y)), (std::vector<int64_t>{0, 1, 2, 0, 1, 2}));
  }
}

TEST(Npz, TruncatedArchiveNamesTheFile) {
  if (!python_has("numpy")) GTEST_SKIP() << "needs /usr/bin/python3 with numpy";
  TempDir tmp;
  ASSERT_TRUE(run_python(tmp, kNpzScript));
  for (const char* archive : {"plain.npz", "packed.npz"}) {
    SCOPED_TRACE(archive);
    const std::string whole = read_file(tmp.str(archive));
    const std::string cut = tmp.str(std::string("cut_") + archive);
    write_file(cut, whole.substr(0, whole.size() / 2));
    EXPECT_TRUE(is_zip_file(cut));
    std::string m = data_error_of([&] { npz_members(cut); });
    EXPECT_TRUE(contains(m, cut)) << m;
    m = data_error_of([&] { open_npz_member(cut, "x"); });
    EXPECT_TRUE(contains(m, cut)) << m;
  }
  const std::string text = tmp.str("text.npz");
  write_file(text, "not a zip at all\n");
  EXPECT_FALSE(is_zip_file(text));
  std::string m = data_error_of([&] { open_npz_member(text, "x"); });
  EXPECT_TRUE(contains(m, text)) << m;
  m = data_error_of([&] { npz_members(tmp.str("missing.npz")); });
  EXPECT_TRUE(contains(m, tmp.str("missing.npz"))) << m;
}

TEST(Npz, MembersWrittenByZipfile) {
  if (!python_has("numpy")) GTEST_SKIP() << "needs /usr/bin/python3 with numpy";
  TempDir tmp;
  // A member named without ".npy", one whose NPY data is shorter than its header says, and one that is not NPY.
  ASSERT_TRUE(run_python(tmp,
                         "import io, zipfile\n"
                         "def npy(a):\n"
                         "  b = io.BytesIO()\n"
                         "  np.save(b, a)\n"
                         "  return b.getvalue()\n"
                         "with zipfile.ZipFile('odd.npz', 'w', zipfile.ZIP_DEFLATED) as z:\n"
                         "  z.writestr('raw', npy(np.arange(4, dtype=np.int16)))\n"
                         "  z.writestr('short.npy', npy(np.arange(10, dtype=np.float64))[:-8])\n"
                         "  z.writestr('text.npy', b'hello, world')\n"));
  const std::string path = tmp.str("odd.npz");
  Strings names = npz_members(path);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (Strings{"raw", "short", "text"}));
  auto raw = open_npz_member(path, "raw");
  ASSERT_NE(raw, nullptr);
  EXPECT_EQ(test::values<int16_t>(read_all(*raw)), (std::vector<int16_t>{0, 1, 2, 3}));
  std::string m = data_error_of([&] { open_npz_member(path, "short"); });
  EXPECT_TRUE(contains(m, path + ": short")) << m;
  EXPECT_TRUE(contains(m, "truncated")) << m;
  m = data_error_of([&] { open_npz_member(path, "text"); });
  EXPECT_TRUE(contains(m, path + ": text")) << m;
  EXPECT_TRUE(contains(m, "magic")) << m;
}

TEST(Npz, RowsMayStartAfterTheFirst) {
  if (!python_has("numpy")) GTEST_SKIP() << "needs /usr/bin/python3 with numpy";
  TempDir tmp;
  ASSERT_TRUE(run_python(tmp, kNpzScript));
  // ArraySource::read_rows promises increasing, non-overlapping ranges, gaps allowed: a stream skips forward.
  for (const char* archive : {"plain.npz", "packed.npz"}) {
    SCOPED_TRACE(archive);
    auto y = open_npz_member(tmp.str(archive), "y");
    ASSERT_NE(y, nullptr);
    std::vector<int64_t> got(2);
    try {
      y->read_rows(2, 1, got.data());
      y->read_rows(4, 1, got.data() + 1);
    } catch (const Error& e) {
      ADD_FAILURE() << e.what();
    }
    EXPECT_EQ(got, (std::vector<int64_t>{2, 1}));
  }
}

TEST(Npz, CorruptMemberIsADataError) {
  if (!python_has("numpy")) GTEST_SKIP() << "needs /usr/bin/python3 with numpy";
  TempDir tmp;
  // One member whose deflated stream fills most of the archive: bytes overwritten in the middle corrupt it
  // while the zip's directory at the end stays intact.
  ASSERT_TRUE(run_python(tmp,
                         "x = (np.arange(200000) % 7).astype(np.int64).reshape(1000, 200)\n"
                         "np.savez_compressed('one.npz', x=x)\n"
                         "b = bytearray(open('one.npz', 'rb').read())\n"
                         "mid = len(b) // 2\n"
                         "b[mid:mid + 32] = b'\\xff' * 32\n"
                         "open('bad.npz', 'wb').write(bytes(b))\n"));
  const std::string path = tmp.str("bad.npz");
  std::string m = data_error_of([&] {
    auto x = open_npz_member(path, "x");
    ASSERT_NE(x, nullptr);
    read_all(*x);
  });
  EXPECT_TRUE(contains(m, path)) << m;
}

// ---- HDF5 ---------------------------------------------------------------------------------------------------------

const char kH5Script[] =
    "import h5py\n"
    "x = (np.arange(5 * 4 * 4 * 3).reshape(5, 4, 4, 3) % 256).astype(np.uint8)\n"
    "y = np.arange(5, dtype=np.int64) * 7 - 10\n"
    "d = np.arange(10).reshape(5, 2) / 3.0\n"
    "h = (np.arange(10).reshape(5, 2) * 0.25 - 1).astype(np.float16)\n"
    "b = np.arange(5) % 2 == 0\n"
    "gx = np.arange(15, dtype=np.int32).reshape(5, 3) - 4\n"
    "u = np.arange(5, dtype=np.uint16) * 10000 + 25000\n"
    "with h5py.File('d.h5', 'w') as f:\n"
    "  f['x_train'] = x\n"
    "  f['y_train'] = y\n"
    "  f['f64'] = d\n"
    "  f['f16'] = h\n"
    "  f['flags'] = b\n"
    "  f.create_group('g')['x'] = gx\n"
    "  f.create_dataset('packed', data=x, chunks=(2, 4, 4, 3), compression='gzip')\n"
    "  f['u16'] = u\n"
    "  f['text'] = np.array([b'a', b'bc'])\n"
    "  f['scalar'] = 3.0\n"
    "x.tofile('x.raw'); y.tofile('y.raw'); d.tofile('d.raw'); h.astype(np.float32).tofile('h.raw')\n"
    "b.astype(np.uint8).tofile('b.raw'); gx.tofile('gx.raw'); u.astype(np.int32).tofile('u.raw')\n";

TEST(H5, DatasetsReadExactly) {
  if (!python_has("h5py")) GTEST_SKIP() << "needs /usr/bin/python3 with numpy and h5py";
  TempDir tmp;
  ASSERT_TRUE(run_python(tmp, kH5Script));
  const std::string path = tmp.str("d.h5");
  EXPECT_TRUE(is_hdf5_file(path));
  const std::vector<std::tuple<std::string, Shape, at::ScalarType, std::string>> sets = {
      {"x_train", {5, 4, 4, 3}, at::kByte, "x.raw"}, {"y_train", {5}, at::kLong, "y.raw"},
      {"f64", {5, 2}, at::kDouble, "d.raw"},         {"f16", {5, 2}, at::kFloat, "h.raw"},
      {"flags", {5}, at::kByte, "b.raw"},            {"g/x", {5, 3}, at::kInt, "gx.raw"},
      {"packed", {5, 4, 4, 3}, at::kByte, "x.raw"},  {"u16", {5}, at::kInt, "u.raw"}};
  for (const auto& [name, shape, dtype, raw] : sets) {
    SCOPED_TRACE(name);
    auto src = open_h5_dataset(path, name);
    ASSERT_NE(src, nullptr);
    EXPECT_EQ(src->info().where, path + ": " + name);
    EXPECT_EQ(src->info().shape, shape);
    EXPECT_EQ(src->info().dtype, dtype);
    EXPECT_TRUE(bytes_of(read_all(*src)) == read_file(tmp.str(raw)));
  }
  auto f16 = open_h5_dataset(path, "f16");
  EXPECT_EQ(test::values<float>(read_all(*f16)),
            (std::vector<float>{-1.0f, -0.75f, -0.5f, -0.25f, 0.0f, 0.25f, 0.5f, 0.75f, 1.0f, 1.25f}));
  auto u16 = open_h5_dataset(path, "u16");
  EXPECT_EQ(test::values<int32_t>(read_all(*u16)), (std::vector<int32_t>{25000, 35000, 45000, 55000, 65000}));
  // Rows in blocks, from a chunked, compressed dataset.
  auto packed = open_h5_dataset(path, "packed");
  const int64_t row = packed->info().row_bytes();
  std::string buf(static_cast<size_t>(5 * row), '\0');
  packed->read_rows(0, 1, buf.data());
  packed->read_rows(1, 3, buf.data() + row);
  packed->read_rows(4, 1, buf.data() + 4 * row);
  EXPECT_TRUE(buf == read_file(tmp.str("x.raw")));

  // One checked and opened file for several datasets, which outlive the H5File that returned them.
  std::unique_ptr<ArraySource> x, chunked;
  {
    const H5File file(path);
    x = file.dataset("x_train");
    chunked = file.dataset("packed");
    EXPECT_EQ(file.dataset("x_test"), nullptr);
  }
  EXPECT_TRUE(bytes_of(read_all(*x)) == read_file(tmp.str("x.raw")));
  EXPECT_TRUE(bytes_of(read_all(*chunked)) == read_file(tmp.str("x.raw")));

  EXPECT_EQ(open_h5_dataset(path, "x_test"), nullptr);
  EXPECT_EQ(open_h5_dataset(path, "g/missing"), nullptr);
  EXPECT_EQ(open_h5_dataset(path, "nogroup/x"), nullptr);
  Strings names = h5_dataset_names(path);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (Strings{"f16", "f64", "flags", "g/x", "packed", "scalar", "text", "u16", "x_train", "y_train"}));
}

TEST(H5, UnreadableFilesAndDatasetsAreDataErrors) {
  if (!python_has("h5py")) GTEST_SKIP() << "needs /usr/bin/python3 with numpy and h5py";
  TempDir tmp;
  ASSERT_TRUE(run_python(tmp, kH5Script));
  const std::string path = tmp.str("d.h5");
  std::string m = data_error_of([&] { open_h5_dataset(path, "text"); });
  EXPECT_TRUE(contains(m, path + ": text")) << m;
  EXPECT_TRUE(contains(m, "unsupported")) << m;
  m = data_error_of([&] { open_h5_dataset(path, "scalar"); });
  EXPECT_TRUE(contains(m, "scalar")) << m;
  m = data_error_of([&] { open_h5_dataset(path, "g"); });
  EXPECT_TRUE(contains(m, path)) << m;
  EXPECT_TRUE(contains(m, "'g'")) << m;

  const std::string text = tmp.str("text.h5");
  write_file(text, "x,y\n1,2\n");
  EXPECT_FALSE(is_hdf5_file(text));
  m = data_error_of([&] { open_h5_dataset(text, "x_train"); });
  EXPECT_TRUE(contains(m, text)) << m;
  EXPECT_TRUE(contains(m, "HDF5")) << m;
  m = data_error_of([&] { h5_dataset_names(text); });
  EXPECT_TRUE(contains(m, text)) << m;
  // The HDF5 signature, then garbage.
  const std::string fake = tmp.str("fake.h5");
  write_file(fake, std::string("\x89HDF\r\n\x1a\n", 8) + std::string(100, 'z'));
  m = data_error_of([&] { open_h5_dataset(fake, "x_train"); });
  EXPECT_TRUE(contains(m, fake)) << m;
  // A real file cut short.
  const std::string whole = read_file(path);
  const std::string cut = tmp.str("cut.h5");
  write_file(cut, whole.substr(0, whole.size() / 2));
  m = data_error_of([&] {
    auto x = open_h5_dataset(cut, "packed");
    if (x) read_all(*x);
  });
  EXPECT_TRUE(contains(m, cut)) << m;
  m = data_error_of([&] { open_h5_dataset(tmp.str("missing.h5"), "x"); });
  EXPECT_TRUE(contains(m, tmp.str("missing.h5"))) << m;
}

TEST(H5, DatasetsOfMostlyUnwrittenChunksAreRefused) {
  if (!python_has("h5py")) GTEST_SKIP() << "needs /usr/bin/python3 with numpy and h5py";
  TempDir tmp;
  // 70000 one-byte chunks: all written (read, a look-up each), or 100 written (the rest would read as fill values).
  ASSERT_TRUE(run_python(tmp,
                         "import h5py\n"
                         "with h5py.File('c.h5', 'w') as f:\n"
                         "  d = f.create_dataset('dense', shape=(70000,), dtype='u1', chunks=(1,))\n"
                         "  d[:] = np.arange(70000) % 251\n"
                         "  s = f.create_dataset('sparse', shape=(70000,), dtype='u1', chunks=(1,))\n"
                         "  s[:100] = 7\n"));
  const std::string path = tmp.str("c.h5");
  auto dense = open_h5_dataset(path, "dense");
  ASSERT_NE(dense, nullptr);
  const std::vector<uint8_t> values = test::values<uint8_t>(read_all(*dense));
  ASSERT_EQ(values.size(), 70000u);
  EXPECT_EQ(values[69999], 69999 % 251);
  const std::string m = data_error_of([&] { open_h5_dataset(path, "sparse"); });
  EXPECT_TRUE(contains(m, path + ": sparse")) << m;
  EXPECT_TRUE(contains(m, "declares 70000 chunks but stores 100")) << m;
}

/// `bytes` with the 8 bytes at `at` set to `value` (little-endian).
std::string with_u64(std::string bytes, size_t at, uint64_t value) {
  for (int i = 0; i < 8; ++i) bytes[at + static_cast<size_t>(i)] = static_cast<char>((value >> (8 * i)) & 0xff);
  return bytes;
}

uint64_t u64_at(const std::string& bytes, size_t at) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(bytes[at + static_cast<size_t>(i)]);
  return v;
}

TEST(H5, LocalHeapFreeListsThatLoopAreRefusedBeforeHdf5ReadsThem) {
  // HDF5 1.10 follows a group's local heap free list, a node allocated per step, until memory runs out (fuzzing
  // found one leading to itself). Here h5py's root group heap, its free list made to loop in one and in two steps.
  if (!python_has("h5py")) GTEST_SKIP() << "needs /usr/bin/python3 with numpy and h5py";
  TempDir tmp;
  ASSERT_TRUE(run_python(tmp, kH5Script));
  const std::string path = tmp.str("d.h5");
  const std::string whole = read_file(path);
  EXPECT_EQ(hdf5_heap_problem_in_file(path), "");
  const size_t heap = whole.find("HEAP");
  ASSERT_NE(heap, std::string::npos);
  const uint64_t data_size = u64_at(whole, heap + 8), first = u64_at(whole, heap + 16), data = u64_at(whole, heap + 24);
  ASSERT_LE(first + 32, data_size) << "the root heap's free space has room for two free blocks";
  const std::string one_step = with_u64(whole, data + first, first);
  std::string two_steps = with_u64(whole, data + first, first + 16);
  two_steps = with_u64(with_u64(two_steps, data + first + 8, 16), data + first + 16, first);
  two_steps = with_u64(two_steps, data + first + 24, 16);
  for (const std::string& damaged : {one_step, two_steps}) {
    const std::string loop = tmp.str("loop.h5");
    write_file(loop, damaged);
    const std::string problem = hdf5_heap_problem_in_file(loop);
    EXPECT_TRUE(contains(problem, fmt::format("the free list of the local heap at byte {} leads back", heap)))
        << problem;
    EXPECT_EQ(hdf5_heap_problem(damaged), problem);
    const std::string m = data_error_of([&] { open_h5_dataset(loop, "x_train"); });
    EXPECT_TRUE(contains(m, loop + ": damaged HDF5 file: " + problem)) << m;
  }
}

}  // namespace
}  // namespace snare::data
