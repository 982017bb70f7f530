#include "data/images.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <stb_image.h>
#include <stb_image_write.h>

#include <filesystem>
#include <string>
#include <vector>

#include "common/error.h"
#include "temp_dir.h"

namespace snare::data {
namespace {

using test::TempDir;
using test::write_file;

/// A distinct, deterministic pattern per image (seed), row, column and channel.
std::vector<uint8_t> pattern(int seed, int h, int w, int c) {
  std::vector<uint8_t> px(static_cast<size_t>(h) * w * c);
  size_t i = 0;
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      for (int k = 0; k < c; ++k) px[i++] = static_cast<uint8_t>((seed * 37 + y * 11 + x * 5 + k * 71) % 256);
    }
  }
  return px;
}

enum class Format { kPng, kBmp, kJpg };

/// Writes a real image file with stb_image_write, creating its folder.
void write_image(const std::string& path, int h, int w, int c, const std::vector<uint8_t>& px,
                 Format format = Format::kPng) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  int ok = 0;
  switch (format) {
    case Format::kPng: ok = stbi_write_png(path.c_str(), w, h, c, px.data(), w * c); break;
    case Format::kBmp: ok = stbi_write_bmp(path.c_str(), w, h, c, px.data()); break;
    case Format::kJpg: ok = stbi_write_jpg(path.c_str(), w, h, c, px.data(), 95); break;
  }
  ASSERT_NE(ok, 0) << "cannot write " << path;
}

/// All rows of `src` as bytes.
std::vector<uint8_t> read_all(ArraySource& src) {
  std::vector<uint8_t> buf(static_cast<size_t>(src.info().rows() * src.info().row_bytes()));
  src.read_rows(0, src.info().rows(), buf.data());
  return buf;
}

/// The bytes of image `i` within a buffer of whole images.
std::vector<uint8_t> image(const std::vector<uint8_t>& buf, const ArrayInfo& info, int64_t i) {
  auto first = buf.begin() + i * info.row_bytes();
  return std::vector<uint8_t>(first, first + info.row_bytes());
}

/// The DataError message `f` throws, or "" (with a test failure) when it throws none.
template <typename F>
std::string data_error(F f) {
  try {
    f();
  } catch (const DataError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a DataError";
  return "";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

/// Sets at::get_num_threads() for the lifetime of the object (a 2-core machine defaults to 1 thread, which would
/// leave the worker-thread paths untested).
class ScopedThreads {
 public:
  explicit ScopedThreads(int n) : old_(at::get_num_threads()) { at::set_num_threads(n); }
  ~ScopedThreads() { at::set_num_threads(old_); }

 private:
  int old_;
};

TEST(Images, ClassesAreSortedAndFilesLabelledByClass) {
  TempDir tmp;
  auto px = pattern(0, 2, 2, 1);
  // Byte order: upper case sorts before lower case.
  write_image(tmp.str("cat/b.png"), 2, 2, 1, px);
  write_image(tmp.str("cat/a.PNG"), 2, 2, 1, px);
  write_image(tmp.str("Dog/z.bmp"), 2, 2, 1, px, Format::kBmp);
  write_image(tmp.str("bird/x.JPEG"), 2, 2, 1, px, Format::kJpg);
  write_image(tmp.str("bird/w.jpg"), 2, 2, 1, px, Format::kJpg);
  write_file(tmp.str("cat/notes.txt"), "not an image");
  write_file(tmp.str("cat/a.png.bak"), "not an image");
  write_file(tmp.str("README.md"), "files next to the class folders are ignored");
  std::filesystem::create_directories(tmp.str("cat/nested.png"));  // a folder, even one named like an image

  ImageFolder f = scan_image_folder(tmp.str());
  EXPECT_EQ(f.root, tmp.str());
  EXPECT_EQ(f.class_names, (std::vector<std::string>{"Dog", "bird", "cat"}));
  EXPECT_EQ(f.files, (std::vector<std::string>{tmp.str("Dog/z.bmp"), tmp.str("bird/w.jpg"), tmp.str("bird/x.JPEG"),
                                               tmp.str("cat/a.PNG"), tmp.str("cat/b.png")}));
  EXPECT_EQ(f.labels, (std::vector<int64_t>{0, 1, 1, 2, 2}));
  EXPECT_EQ(open_images(f, {})->info().rows(), 5);
}

TEST(Images, ReadsGrayscalePngExactly) {
  TempDir tmp;
  const int h = 3, w = 5;
  std::vector<std::vector<uint8_t>> px;
  for (int i = 0; i < 7; ++i) {
    px.push_back(pattern(i, h, w, 1));
    write_image(tmp.str(fmt::format("{}/img{}.png", i % 2 ? "odd" : "even", i)), h, w, 1, px.back());
  }
  ImageFolder f = scan_image_folder(tmp.str());
  auto src = open_images(f, {});
  const ArrayInfo& info = src->info();
  EXPECT_EQ(info.shape, (std::vector<int64_t>{7, h, w, 1}));
  EXPECT_EQ(info.dtype, at::kByte);
  EXPECT_EQ(info.where, tmp.str());
  std::vector<uint8_t> all = read_all(*src);
  // even: img0 img2 img4 img6, then odd: img1 img3 img5.
  const std::vector<int> order = {0, 2, 4, 6, 1, 3, 5};
  for (int64_t r = 0; r < 7; ++r) EXPECT_EQ(image(all, info, r), px[order[r]]) << "row " << r;

  // Blocks of rows land at the start of dst.
  std::vector<uint8_t> block(static_cast<size_t>(2 * info.row_bytes()));
  src->read_rows(3, 2, block.data());
  EXPECT_EQ(image(block, info, 0), px[6]);
  EXPECT_EQ(image(block, info, 1), px[1]);
}

TEST(Images, ReadsRgbPngAndBmpExactly) {
  TempDir tmp;
  const int h = 4, w = 6;
  auto a = pattern(1, h, w, 3), b = pattern(2, h, w, 3);
  write_image(tmp.str("a/1.png"), h, w, 3, a);
  write_image(tmp.str("b/2.bmp"), h, w, 3, b, Format::kBmp);
  auto src = open_images(scan_image_folder(tmp.str()), {});
  EXPECT_EQ(src->info().shape, (std::vector<int64_t>{2, h, w, 3}));
  std::vector<uint8_t> all = read_all(*src);
  EXPECT_EQ(image(all, src->info(), 0), a);
  EXPECT_EQ(image(all, src->info(), 1), b);
}

TEST(Images, AlphaIsDropped) {
  TempDir tmp;
  auto rgba = pattern(3, 2, 3, 4);
  write_image(tmp.str("a/x.png"), 2, 3, 4, rgba);
  auto src = open_images(scan_image_folder(tmp.str()), {});
  EXPECT_EQ(src->info().shape, (std::vector<int64_t>{1, 2, 3, 3}));
  std::vector<uint8_t> got = read_all(*src);
  for (size_t p = 0; p < 6; ++p) {
    for (size_t k = 0; k < 3; ++k) EXPECT_EQ(got[p * 3 + k], rgba[p * 4 + k]) << "pixel " << p << " channel " << k;
  }
}

TEST(Images, ConvertsRgbToGrayscale) {
  TempDir tmp;
  const int h = 3, w = 4;
  auto rgb = pattern(4, h, w, 3);
  write_image(tmp.str("a/x.png"), h, w, 3, rgb);
  auto src = open_images(scan_image_folder(tmp.str()), {/*channels=*/1});
  EXPECT_EQ(src->info().shape, (std::vector<int64_t>{1, h, w, 1}));
  std::vector<uint8_t> got = read_all(*src);
  for (size_t p = 0; p < static_cast<size_t>(h * w); ++p) {
    // ITU-R BT.601 luma, which stb_image approximates in fixed point.
    double luma = 0.299 * rgb[p * 3] + 0.587 * rgb[p * 3 + 1] + 0.114 * rgb[p * 3 + 2];
    EXPECT_NEAR(got[p], luma, 1.5) << "pixel " << p;
  }
}

TEST(Images, ConvertsGrayscaleToRgb) {
  TempDir tmp;
  const int h = 3, w = 4;
  auto gray = pattern(5, h, w, 1);
  write_image(tmp.str("a/x.png"), h, w, 1, gray);
  write_image(tmp.str("a/y.bmp"), h, w, 1, gray, Format::kBmp);
  auto src = open_images(scan_image_folder(tmp.str()), {/*channels=*/3});
  EXPECT_EQ(src->info().shape, (std::vector<int64_t>{2, h, w, 3}));
  std::vector<uint8_t> got = read_all(*src);
  for (int64_t i = 0; i < 2; ++i) {
    std::vector<uint8_t> img = image(got, src->info(), i);
    for (size_t p = 0; p < gray.size(); ++p) {
      for (size_t k = 0; k < 3; ++k) EXPECT_EQ(img[p * 3 + k], gray[p]) << "image " << i << " pixel " << p;
    }
  }
}

TEST(Images, ChannelsFollowTheFirstImage) {
  TempDir tmp;
  write_image(tmp.str("a/1.png"), 2, 2, 1, pattern(1, 2, 2, 1));
  write_image(tmp.str("a/2.png"), 2, 2, 3, pattern(2, 2, 2, 3));
  EXPECT_EQ(open_images(scan_image_folder(tmp.str()), {})->info().shape, (std::vector<int64_t>{2, 2, 2, 1}));
  write_image(tmp.str("a/0.png"), 2, 2, 3, pattern(0, 2, 2, 3));
  EXPECT_EQ(open_images(scan_image_folder(tmp.str()), {})->info().shape, (std::vector<int64_t>{3, 2, 2, 3}));
}

TEST(Images, ReadsJpegWithinATolerance) {
  TempDir tmp;
  // Smooth content, so that JPEG's loss stays small.
  std::vector<uint8_t> px(8 * 8 * 3);
  for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<uint8_t>(100 + (i % 3) * 40);
  write_image(tmp.str("a/x.jpg"), 8, 8, 3, px, Format::kJpg);
  write_image(tmp.str("b/y.jpeg"), 8, 8, 3, px, Format::kJpg);
  ImageFolder f = scan_image_folder(tmp.str());
  EXPECT_EQ(f.labels, (std::vector<int64_t>{0, 1}));
  auto src = open_images(f, {});
  EXPECT_EQ(src->info().shape, (std::vector<int64_t>{2, 8, 8, 3}));
  std::vector<uint8_t> got = read_all(*src);
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], px[i % px.size()], 4) << "byte " << i;
}

TEST(Images, DifferentSizeIsADataErrorNamingTheFileAndBothSizes) {
  TempDir tmp;
  write_image(tmp.str("a/1.png"), 3, 4, 1, pattern(1, 3, 4, 1));
  write_image(tmp.str("a/2.png"), 3, 4, 1, pattern(2, 3, 4, 1));
  write_image(tmp.str("b/3.png"), 5, 4, 1, pattern(3, 5, 4, 1));
  auto src = open_images(scan_image_folder(tmp.str()), {});
  EXPECT_EQ(src->info().shape, (std::vector<int64_t>{3, 3, 4, 1}));
  std::vector<uint8_t> buf(static_cast<size_t>(3 * src->info().row_bytes()));
  std::string m = data_error([&] { src->read_rows(0, 3, buf.data()); });
  EXPECT_TRUE(contains(m, tmp.str("b/3.png"))) << m;
  EXPECT_TRUE(contains(m, "5x4")) << m;
  EXPECT_TRUE(contains(m, "expected 3x4")) << m;
  // The images before it are fine on their own.
  src->read_rows(0, 2, buf.data());
}

TEST(Images, ResizesToTheGivenSize) {
  TempDir tmp;
  write_image(tmp.str("a/big.png"), 8, 6, 3, std::vector<uint8_t>(8 * 6 * 3, 200));
  write_image(tmp.str("b/small.png"), 2, 3, 3, std::vector<uint8_t>(2 * 3 * 3, 50));
  auto exact = pattern(7, 5, 7, 3);
  write_image(tmp.str("c/same.png"), 5, 7, 3, exact);
  ImageOptions options;
  options.height = 5;
  options.width = 7;
  auto src = open_images(scan_image_folder(tmp.str()), options);
  EXPECT_EQ(src->info().shape, (std::vector<int64_t>{3, 5, 7, 3}));
  std::vector<uint8_t> got = read_all(*src);
  // A plain colour stays (about) that colour; an image already of the size is copied unchanged.
  for (uint8_t v : image(got, src->info(), 0)) EXPECT_NEAR(v, 200, 1);
  for (uint8_t v : image(got, src->info(), 1)) EXPECT_NEAR(v, 50, 1);
  EXPECT_EQ(image(got, src->info(), 2), exact);
}

TEST(Images, BadOptionsAreOptionErrors) {
  TempDir tmp;
  write_image(tmp.str("a/1.png"), 2, 2, 1, pattern(1, 2, 2, 1));
  ImageFolder f = scan_image_folder(tmp.str());
  EXPECT_THROW(open_images(f, {/*channels=*/2}), OptionError);
  EXPECT_THROW(open_images(f, {/*channels=*/0, /*height=*/4, /*width=*/0}), OptionError);
  EXPECT_THROW(open_images(f, {/*channels=*/0, /*height=*/-1, /*width=*/-1}), OptionError);
}

TEST(Images, CorruptFileIsADataErrorNamingItAndTheReason) {
  TempDir tmp;
  write_image(tmp.str("a/good.png"), 2, 2, 1, pattern(1, 2, 2, 1));
  write_file(tmp.str("b/x.png"), "this is not a PNG file at all");
  // stb_image's reason for this file, asked directly.
  int w = 0, h = 0, c = 0;
  ASSERT_EQ(stbi_load(tmp.str("b/x.png").c_str(), &w, &h, &c, 0), nullptr);
  const std::string reason = stbi_failure_reason();

  // Found while reading (on a worker thread when there are several).
  auto src = open_images(scan_image_folder(tmp.str()), {});
  std::vector<uint8_t> buf(static_cast<size_t>(2 * src->info().row_bytes()));
  std::string m = data_error([&] { src->read_rows(0, 2, buf.data()); });
  EXPECT_TRUE(contains(m, tmp.str("b/x.png"))) << m;
  EXPECT_TRUE(contains(m, reason)) << m;

  // Found at open when it is the first image.
  std::filesystem::remove(tmp.str("a/good.png"));
  ImageFolder f = scan_image_folder(tmp.str(), {"a", "b"});
  m = data_error([&] { open_images(f, {}); });
  EXPECT_TRUE(contains(m, tmp.str("b/x.png"))) << m;
}

TEST(Images, ManyImagesWithOneCorruptFailOnTheCaller) {
  ScopedThreads threads(4);
  TempDir tmp;
  for (int i = 0; i < 40; ++i) write_image(tmp.str(fmt::format("a/{:02}.png", i)), 4, 4, 1, pattern(i, 4, 4, 1));
  write_file(tmp.str("a/33.png"), std::string(100, '\x42'));
  auto src = open_images(scan_image_folder(tmp.str()), {});
  std::vector<uint8_t> buf(static_cast<size_t>(40 * src->info().row_bytes()));
  std::string m = data_error([&] { src->read_rows(0, 40, buf.data()); });
  EXPECT_TRUE(contains(m, tmp.str("a/33.png"))) << m;
  src->read_rows(0, 33, buf.data());
  for (int i = 0; i < 33; ++i) EXPECT_EQ(image(buf, src->info(), i), pattern(i, 4, 4, 1)) << "image " << i;
}

TEST(Images, MissingOrEmptyFolderIsADataError) {
  TempDir tmp;
  std::string m = data_error([&] { scan_image_folder(tmp.str("nope")); });
  EXPECT_TRUE(contains(m, tmp.str("nope"))) << m;

  m = data_error([&] { scan_image_folder(tmp.str()); });
  EXPECT_TRUE(contains(m, "no class subfolders")) << m;

  write_file(tmp.str("a/readme.txt"), "no images here");
  std::filesystem::create_directories(tmp.str("b"));
  EXPECT_THROW(scan_image_folder(tmp.str(), {"a", "b"}), DataError);  // no images at all
  m = data_error([&] { scan_image_folder(tmp.str()); });               // a training class without images
  EXPECT_TRUE(contains(m, tmp.str("a"))) << m;

  write_file(tmp.str("file.png"), "a file, not a folder");
  EXPECT_THROW(scan_image_folder(tmp.str("file.png")), DataError);
}

TEST(Images, TestFolderUsesTheTrainingClasses) {
  TempDir tmp;
  const std::vector<std::string> train = {"ant", "bee", "cow"};
  auto px = pattern(1, 2, 2, 1);
  write_image(tmp.str("test/cow/1.png"), 2, 2, 1, px);
  write_image(tmp.str("test/bee/2.png"), 2, 2, 1, px);
  ImageFolder f = scan_image_folder(tmp.str("test"), train);
  EXPECT_EQ(f.class_names, train);
  EXPECT_EQ(f.files, (std::vector<std::string>{tmp.str("test/bee/2.png"), tmp.str("test/cow/1.png")}));
  EXPECT_EQ(f.labels, (std::vector<int64_t>{1, 2}));

  std::filesystem::create_directories(tmp.str("test/ant"));  // a class with no test images is fine
  EXPECT_EQ(scan_image_folder(tmp.str("test"), train).labels, (std::vector<int64_t>{1, 2}));

  write_image(tmp.str("test/dog/3.png"), 2, 2, 1, px);
  std::string m = data_error([&] { scan_image_folder(tmp.str("test"), train); });
  EXPECT_TRUE(contains(m, "'dog'")) << m;
  EXPECT_TRUE(contains(m, "ant, bee, cow")) << m;
}

TEST(Images, SubsetKeepsFilesLabelsAndClasses) {
  TempDir tmp;
  for (int i = 0; i < 3; ++i) {
    write_image(tmp.str(fmt::format("a/{}.png", i)), 2, 2, 1, pattern(i, 2, 2, 1));
    write_image(tmp.str(fmt::format("b/{}.png", i)), 2, 2, 1, pattern(10 + i, 2, 2, 1));
  }
  ImageFolder f = scan_image_folder(tmp.str());
  ImageFolder s = subset(f, {4, 0, 2});
  EXPECT_EQ(s.root, f.root);
  EXPECT_EQ(s.class_names, f.class_names);
  EXPECT_EQ(s.files, (std::vector<std::string>{tmp.str("b/1.png"), tmp.str("a/0.png"), tmp.str("a/2.png")}));
  EXPECT_EQ(s.labels, (std::vector<int64_t>{1, 0, 0}));
  auto src = open_images(s, {});
  std::vector<uint8_t> got = read_all(*src);
  EXPECT_EQ(image(got, src->info(), 0), pattern(11, 2, 2, 1));
  EXPECT_THROW(subset(f, {6}), InternalError);
}

}  // namespace
}  // namespace snare::data
