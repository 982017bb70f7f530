#include "data/images.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <stb_image.h>
#include <stb_image_resize.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>

#include "common/error.h"
#include "common/memory_limit.h"

namespace snare::data {

namespace {

namespace fs = std::filesystem;

constexpr const char* kImageKinds = ".png, .jpg, .jpeg, .bmp";

bool is_image_name(const fs::path& name) {
  std::string ext = name.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp";
}

/// Names of the entries of `dir` that are folders (`want_dirs`) or image files, sorted in byte order.
/// Symbolic links count as what they point to, as for a user browsing the folder.
std::vector<std::string> list(const fs::path& dir, bool want_dirs) {
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) throw DataError(fmt::format("{}: cannot list folder: {}", dir.string(), ec.message()));
  std::vector<std::string> names;
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    std::error_code entry_ec;  // a broken link is neither, not a reason to stop
    bool keep = want_dirs ? it->is_directory(entry_ec)
                          : it->is_regular_file(entry_ec) && is_image_name(it->path().filename());
    if (keep) names.push_back(it->path().filename().string());
  }
  if (ec) throw DataError(fmt::format("{}: cannot list folder: {}", dir.string(), ec.message()));
  std::sort(names.begin(), names.end());  // std::string compares chars as unsigned: byte order
  return names;
}

/// "a, b, c" for a message, shortened when a data set has many classes.
std::string name_list(const std::vector<std::string>& names) {
  constexpr size_t kShown = 20;
  std::string s;
  for (size_t i = 0; i < names.size() && i < kShown; ++i) s += (i ? ", " : "") + names[i];
  if (names.size() > kShown) s += fmt::format(", ... ({} in all)", names.size());
  return s;
}

struct StbiFree {
  void operator()(stbi_uc* p) const { stbi_image_free(p); }
};

struct Decoded {
  std::unique_ptr<stbi_uc, StbiFree> pixels;  ///< height x width x channels (the requested count when given)
  int width = 0;
  int height = 0;
  int file_channels = 0;  ///< as stored: 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA
};

/// What is wrong with a PNG's chunk list, or "": a chunk may not claim more bytes than the file has left (stb_image
/// allocates a chunk's claimed length before it reads it: 1.7 GB for a 103-byte file).
std::string png_chunk_problem(const std::string& bytes) {
  static const std::string kSignature = "\x89PNG\r\n\x1a\n";
  if (bytes.compare(0, kSignature.size(), kSignature) != 0) return "";
  auto be32 = [&](size_t at) {
    uint64_t v = 0;
    for (size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(bytes[at + i]);
    return v;
  };
  for (size_t p = kSignature.size(); p + 8 <= bytes.size();) {
    const uint64_t length = be32(p);
    if (length > bytes.size() - p - 8) {
      return fmt::format("the PNG chunk at byte {} claims {} bytes, past the end of the file ({} bytes)", p, length,
                         bytes.size());
    }
    if (bytes.compare(p + 4, 4, "IEND") == 0) break;
    p += 12 + length;
  }
  return "";
}

Decoded decode(const std::string& file, int channels) {
  std::string bytes;
  {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw DataError(fmt::format("{}: cannot open image: {}", file, std::strerror(errno)));
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (in.bad()) throw DataError(fmt::format("{}: read error", file));
  }
  if (bytes.size() > INT_MAX) throw DataError(fmt::format("{}: {} is too large for an image", file, size_text(bytes.size())));
  if (std::string problem = png_chunk_problem(bytes); !problem.empty()) {
    throw DataError(fmt::format("{}: cannot decode image: {}", file, problem));
  }
  const auto* data = reinterpret_cast<const stbi_uc*>(bytes.data());
  const int length = static_cast<int>(bytes.size());
  // The header's size before the pixels: a few bytes can declare 60000 x 60000 of them, which stb_image would
  // allocate. Compressed pixels come back at most about 1000:1 (deflate; JPEG and BMP's RLE less).
  int width = 0, height = 0, stored_channels = 0;
  if (stbi_info_from_memory(data, length, &width, &height, &stored_channels) != 0) {
    const uint64_t pixels = static_cast<uint64_t>(width) * static_cast<uint64_t>(height) *
                            static_cast<uint64_t>(std::max({channels, stored_channels, 1}));
    if (pixels > memory_limit() || beyond_decompression(pixels, bytes.size())) {
      throw DataError(fmt::format("{}: declares a {} x {} image with {} channels ({}), more than its {} can hold or the "
                                  "memory limit {} allows", file, width, height, stored_channels, size_text(pixels),
                                  size_text(bytes.size()), memory_limit_text()));
    }
  }
  Decoded d;
  d.pixels.reset(stbi_load_from_memory(data, length, &d.width, &d.height, &d.file_channels, channels));
  if (!d.pixels) {
    // The failure reason is thread-local in stb_image >= 2.24, so this is the reason for this file.
    const char* reason = stbi_failure_reason();
    throw DataError(fmt::format("{}: cannot decode image: {}", file, reason ? reason : "unknown error"));
  }
  if (d.width <= 0 || d.height <= 0) {
    throw DataError(fmt::format("{}: cannot decode image: it has {} x {} pixels", file, d.width, d.height));
  }
  return d;
}

class ImageSource final : public ArraySource {
 public:
  ImageSource(const ImageFolder& folder, const ImageOptions& options) : files_(folder.files) {
    if (options.channels != 0 && options.channels != 1 && options.channels != 3) {
      throw OptionError("ImageOptions::channels",
                        fmt::format("must be 1 (grayscale), 3 (RGB) or 0 (as the first image), got {}", options.channels));
    }
    resize_ = options.height > 0 || options.width > 0;
    if (options.height < 0 || options.width < 0 || (resize_ && (options.height == 0 || options.width == 0)) ||
        options.height > INT_MAX || options.width > INT_MAX) {
      throw OptionError("ImageOptions::height", fmt::format("height and width must be two positive numbers (or none to "
                                                            "keep the size), got {}x{}", options.height, options.width));
    }
    if (files_.empty()) throw DataError(fmt::format("{}: no images to read", folder.root));

    // Decoding (not just reading the header) checks that the first file is a usable image up front.
    Decoded first = decode(files_[0], options.channels);
    channels_ = options.channels != 0 ? options.channels : first.file_channels <= 2 ? 1 : 3;
    height_ = resize_ ? static_cast<int>(options.height) : first.height;
    width_ = resize_ ? static_cast<int>(options.width) : first.width;
    info_.where = folder.root;
    info_.shape = {static_cast<int64_t>(files_.size()), height_, width_, channels_};
    info_.dtype = at::kByte;
  }

  const ArrayInfo& info() const override { return info_; }

  void read_rows(int64_t begin, int64_t count, void* dst) override {
    if (begin < 0 || count < 0 || begin + count > info_.rows()) {
      throw InternalError(fmt::format("{}: read_rows({}, {}) outside the {} images", info_.where, begin, count,
                                      info_.rows()));
    }
    auto* out = static_cast<uint8_t*>(dst);
    const int64_t row_bytes = info_.row_bytes();
    // Worker threads must not throw through at::parallel_for; the first failure (by index among those seen) is
    // rethrown here, and the others stop early since the read fails anyway.
    std::mutex mutex;
    std::exception_ptr error;
    int64_t error_index = INT64_MAX;
    std::atomic<bool> failed{false};
    at::parallel_for(begin, begin + count, 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e && !failed.load(std::memory_order_relaxed); ++i) {
        try {
          decode_into(files_[static_cast<size_t>(i)], out + (i - begin) * row_bytes);
        } catch (...) {
          std::lock_guard<std::mutex> lock(mutex);
          if (i < error_index) {
            error_index = i;
            error = std::current_exception();
          }
          failed.store(true, std::memory_order_relaxed);
        }
      }
    });
    if (error) std::rethrow_exception(error);
  }

 private:
  void decode_into(const std::string& file, uint8_t* out) const {
    Decoded d = decode(file, channels_);
    const size_t bytes = static_cast<size_t>(height_) * width_ * channels_;
    if (d.width == width_ && d.height == height_) {
      std::memcpy(out, d.pixels.get(), bytes);
      return;
    }
    if (!resize_) {
      throw DataError(fmt::format("{}: image is {}x{} (height x width), expected {}x{} as the first image {}; "
                                  "give DataOptions::resize HxW to bring images of different sizes to one size",
                                  file, d.height, d.width, height_, width_, files_[0]));
    }
    if (!stbir_resize_uint8(d.pixels.get(), d.width, d.height, 0, out, width_, height_, 0, channels_)) {
      throw DataError(fmt::format("{}: cannot resize the {}x{} image to {}x{} (height x width)", file, d.height,
                                  d.width, height_, width_));
    }
  }

  std::vector<std::string> files_;
  ArrayInfo info_;
  bool resize_ = false;
  int channels_ = 0;
  int height_ = 0;
  int width_ = 0;
};

}  // namespace

ImageFolder scan_image_folder(const std::string& dir, const std::vector<std::string>& class_names) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw DataError(fmt::format("{}: {}; expected a folder of class subfolders holding images ({})", dir,
                                fs::exists(dir, ec) ? "not a folder" : "folder not found", kImageKinds));
  }
  std::vector<std::string> subfolders = list(dir, /*want_dirs=*/true);
  if (subfolders.empty()) {
    throw DataError(fmt::format("{}: no class subfolders; expected {}/<class>/<image> with images ({})", dir, dir,
                                kImageKinds));
  }

  ImageFolder folder;
  folder.root = dir;
  folder.class_names = class_names.empty() ? subfolders : class_names;
  // Labels come from the class list, which for a test folder may order its classes differently from the
  // sorted subfolders; files go in label order.
  std::vector<std::pair<int64_t, std::string>> classes;
  for (const std::string& sub : subfolders) {
    auto it = std::find(folder.class_names.begin(), folder.class_names.end(), sub);
    if (it == folder.class_names.end()) {
      throw DataError(fmt::format("{}: class subfolder '{}' is not one of the {} training classes ({})",
                                  (fs::path(dir) / sub).string(), sub, folder.class_names.size(),
                                  name_list(folder.class_names)));
    }
    classes.emplace_back(it - folder.class_names.begin(), sub);
  }
  std::sort(classes.begin(), classes.end());

  for (const auto& [label, sub] : classes) {
    fs::path class_dir = fs::path(dir) / sub;
    std::vector<std::string> images = list(class_dir, /*want_dirs=*/false);
    // A training class without images could never be predicted; a test folder may lack some classes.
    if (images.empty() && class_names.empty()) {
      throw DataError(fmt::format("{}: class subfolder '{}' holds no images ({})", class_dir.string(), sub,
                                  kImageKinds));
    }
    for (const std::string& name : images) {
      folder.files.push_back((class_dir / name).string());
      folder.labels.push_back(label);
    }
  }
  if (folder.files.empty()) {
    throw DataError(fmt::format("{}: no images ({}) in its {} class subfolders", dir, kImageKinds,
                                subfolders.size()));
  }
  return folder;
}

ImageFolder subset(const ImageFolder& folder, const std::vector<int64_t>& indices) {
  ImageFolder out;
  out.root = folder.root;
  out.class_names = folder.class_names;
  out.files.reserve(indices.size());
  out.labels.reserve(indices.size());
  for (int64_t i : indices) {
    if (i < 0 || i >= static_cast<int64_t>(folder.files.size())) {
      throw InternalError(fmt::format("{}: image index {} outside the {} images", folder.root, i,
                                      folder.files.size()));
    }
    out.files.push_back(folder.files[static_cast<size_t>(i)]);
    out.labels.push_back(folder.labels[static_cast<size_t>(i)]);
  }
  return out;
}

std::unique_ptr<ArraySource> open_images(const ImageFolder& folder, const ImageOptions& options) {
  return std::make_unique<ImageSource>(folder, options);
}

}  // namespace snare::data
