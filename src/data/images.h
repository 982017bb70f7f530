// snare::data — labelled folders of images (PNG, JPEG, BMP) decoded with stb_image.
//
// A folder holds one subfolder per class, as Keras' image_dataset_from_directory and torchvision's ImageFolder
// expect; the class index of an image is the position of its subfolder among the sorted subfolder names. Decoding
// is 8 bit only (16-bit PNGs are reduced to 8 bit, alpha is dropped); nothing here scales or normalises values.
//
//   ImageFolder f = scan_image_folder("imgs/train");                // imgs/train/<class>/*.png
//   auto src = open_images(f, {/*channels=*/1});                     // ArraySource, uint8 [N,H,W,C]
//   ImageFolder t = scan_image_folder("imgs/test", f.class_names);   // labels index the training classes
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/array_source.h"

namespace snare::data {

struct ImageFolder {
  std::string root;
  std::vector<std::string> class_names;  ///< the class subfolder names, sorted (byte order)
  std::vector<std::string> files;        ///< image paths, sorted by class then by file name
  std::vector<int64_t> labels;           ///< per file, index into class_names
};

/// Scans DIR/<class>/<file> for files ending .png .jpg .jpeg .bmp (case-insensitive); other files are ignored.
/// When `class_names` is given (the training folder's classes, for a test folder), labels index that list
/// and a subfolder not in it is a DataError naming it; a class with no images is allowed there.
/// DataError when DIR is missing, has no class subfolders, or holds no images at all; without `class_names`
/// also when a class subfolder holds no images (its label could never be learned).
ImageFolder scan_image_folder(const std::string& dir, const std::vector<std::string>& class_names = {});

/// The files/labels at `indices` (for splitting one folder into train and test). InternalError when an index
/// is out of range.
ImageFolder subset(const ImageFolder& folder, const std::vector<int64_t>& indices);

struct ImageOptions {
  int channels = 0;      ///< 1 (grayscale) or 3 (RGB) to decode to; 0: 1 if the first image is grayscale, else 3
  int64_t height = 0;    ///< with width > 0: every image is resized to height x width (stbir_resize_uint8)
  int64_t width = 0;     ///< 0: every image must have the first image's size, else DataError naming the file,
                         ///< its size and the expected size
};

/// An ArraySource (src/data/array_source.h) over the folder's images: info().shape = [N, H, W, C],
/// dtype uint8 (at::kByte), where = folder.root. The first image is decoded at open to learn H, W (and C when 0).
/// read_rows decodes the files [begin, begin+count) into dst (row-major HWC per image); decoding is spread over
/// threads with at::parallel_for (exceptions from worker threads surface as a DataError on the caller).
/// An unreadable/corrupt file is a DataError naming the file and stbi_failure_reason().
/// OptionError for channels other than 0, 1, 3, or a height/width pair that is not both 0 or both positive.
std::unique_ptr<ArraySource> open_images(const ImageFolder& folder, const ImageOptions& options);

}  // namespace snare::data
