// RAII wrappers over the HDF5 C API, just wide enough for Keras files: groups, string attributes
// (fixed-length and variable-length, scalar and arrays), float datasets as LibTorch tensors, and
// in-memory files for the `model.weights.h5` inside a `.keras` zip.
//
// Every failure throws: ModelError when reading (naming the file and the object), OutputError when
// writing. HDF5's own error printing is switched off once per process (silence_hdf5_errors()).
//
//   h5::File f = h5::File::open("model.h5");
//   std::string config = f.root().attr_string("model_config");
//   at::Tensor k = f.root().group("model_weights/dense").dataset("dense/kernel:0");
#pragma once

#include <ATen/core/Tensor.h>
#include <hdf5.h>

#include <string>
#include <vector>

namespace snare::io::keras::h5 {

/// Turns off HDF5's automatic error stack printing (errors come back as exceptions instead).
void silence_hdf5_errors();

/// True when the file starts with the HDF5 signature (at offset 0, 512, 1024, ...).
bool has_hdf5_signature(const std::string& path);
/// The same for a file image held in memory.
bool bytes_have_hdf5_signature(const std::string& bytes);

/// Owns one hid_t and closes it with the matching H5?close function.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer close) : id_(id), close_(close) {}
  ~Handle() { reset(); }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  Handle(Handle&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = -1; }
  Handle& operator=(Handle&& o) noexcept;
  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  void reset();

 private:
  hid_t id_ = -1;
  Closer close_ = nullptr;
};

/// How string attributes are stored: Keras 2 writes name lists as fixed-length null-padded ASCII,
/// Keras 3 as variable-length UTF-8; scalar config strings are variable-length in both.
enum class StringStorage { kVariableAscii, kVariableUtf8, kFixedAscii };

/// A group (or a file's root group). `label` names the file in messages.
class Group {
 public:
  Group(Handle handle, std::string path, std::string label, bool writing)
      : handle_(std::move(handle)), path_(std::move(path)), label_(std::move(label)), writing_(writing) {}

  const std::string& path() const { return path_; }
  const std::string& label() const { return label_; }
  hid_t id() const { return handle_.get(); }

  /// True when the (possibly nested, "a/b/c") link exists and is a group / a dataset.
  bool has_group(const std::string& name) const;
  bool has_dataset(const std::string& name) const;
  bool has_attr(const std::string& name) const;
  /// Names of the direct members, in HDF5's name order.
  std::vector<std::string> members() const;
  std::vector<std::string> attr_names() const;

  Group group(const std::string& name) const;          ///< throws ModelError when absent
  Group create_group(const std::string& name) const;   ///< creates intermediate groups too

  /// A scalar string attribute; throws ModelError when absent or not a string.
  std::string attr_string(const std::string& name) const;
  /// A 1-D string attribute (an empty numeric array, as Keras writes for "no weights", gives {}).
  std::vector<std::string> attr_strings(const std::string& name) const;

  void set_attr_string(const std::string& name, const std::string& value, StringStorage storage) const;
  void set_attr_strings(const std::string& name, const std::vector<std::string>& values,
                        StringStorage storage) const;
  /// An empty float64 array attribute: what h5py writes for `np.array([])` (Keras' empty weight_names).
  void set_attr_empty(const std::string& name) const;

  /// Reads a numeric dataset as a float32 CPU tensor of the stored shape.
  at::Tensor dataset(const std::string& name) const;
  /// Writes `value` (any float dtype, converted to float32) as a little-endian float32 dataset.
  void write_dataset(const std::string& name, const at::Tensor& value) const;

 private:
  std::string where(const std::string& name) const;
  [[noreturn]] void fail(const std::string& what) const;

  Handle handle_;
  std::string path_;
  std::string label_;
  bool writing_;
};

class File {
 public:
  /// Opens an existing file read-only. Throws ModelError naming `path`.
  static File open(const std::string& path);
  /// Opens a file image held in memory (e.g. model.weights.h5 read from a zip); `label` names it.
  static File open_image(const std::string& bytes, const std::string& label);
  /// Creates (truncates) a file on disk; messages name `label` (the final path of an atomic write)
  /// or else `path`. Throws OutputError.
  static File create(const std::string& path, const std::string& label = "");
  /// Creates a file that lives in memory only; image() returns its bytes.
  static File create_in_memory(const std::string& label);

  Group root() const;
  /// The complete file image (flushes first). Only for in-memory files.
  std::string image() const;
  const std::string& label() const { return label_; }

 private:
  File(Handle handle, std::string label, bool writing)
      : handle_(std::move(handle)), label_(std::move(label)), writing_(writing) {}
  Handle handle_;
  std::string label_;
  bool writing_;
};

}  // namespace snare::io::keras::h5
