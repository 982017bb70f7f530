// A user's own data files through the command line (issue 13): the same model gives the same accuracy on
// Fashion-MNIST and HAR written as NPZ, PNG folders, CSV and channels-last NPY as on the built-in sets; reduce
// runs end to end on an NPZ and an image folder; every bad input exits with 5, names the problem and writes
// nothing. Files are written by Debian's python3 (numpy, h5py, Pillow; scripts/setup.sh installs them).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "data/dataset.h"
#include "run_snare.h"

namespace {

namespace fs = std::filesystem;
using snare::testing::run_snare;
using snare::testing::scratch;

const char* kPython = "/usr/bin/python3";
const char* kRyecatcher = "../shared/models/keras/lenet5_mnist_keras2.3.1_ryecatcher.h5";

bool have_python_modules() {
  return std::system((std::string(kPython) + " -c 'import numpy, h5py, PIL' 2>/dev/null").c_str()) == 0;
}

/// Runs a python script (numpy as np is imported) in `dir`; fails the test when it fails.
void python(const fs::path& dir, const std::string& script) {
  const fs::path file = dir / "make.py";
  std::ofstream(file) << "import numpy as np\nimport os\nos.chdir(" << nlohmann::json(dir.string()).dump() << ")\n"
                      << script;
  ASSERT_EQ(std::system((std::string(kPython) + " " + file.string()).c_str()), 0) << script;
}

/// Python lines that read the IDX files of a folder into xtr, ytr, xte, yte (uint8).
std::string read_idx_lines(const std::string& folder) {
  return "import gzip\n"
         "def idx(p):\n"
         "    b = (gzip.open if p.endswith('.gz') else open)(p, 'rb').read()\n"
         "    n = int.from_bytes(b[4:8], 'big')\n"
         "    return np.frombuffer(b, np.uint8, offset=16).reshape(n, 28, 28) if b[3] == 3 else "
         "np.frombuffer(b, np.uint8, offset=8)\n"
         "d = " + nlohmann::json(folder).dump() + "\n"
         "g = '.gz' if os.path.exists(d + '/t10k-images-idx3-ubyte.gz') else ''\n"
         "xtr, ytr = idx(d + '/train-images-idx3-ubyte' + g), idx(d + '/train-labels-idx1-ubyte' + g)\n"
         "xte, yte = idx(d + '/t10k-images-idx3-ubyte' + g), idx(d + '/t10k-labels-idx1-ubyte' + g)\n";
}

nlohmann::json eval_json(const std::string& model, const std::string& data_flags) {
  auto r = run_snare("eval " + model + " " + data_flags + " --json");
  EXPECT_EQ(r.exit_code, 0) << data_flags << ": " << r.output;
  try {
    return nlohmann::json::parse(r.output.substr(r.output.find('{')));
  } catch (const std::exception&) {
    ADD_FAILURE() << r.output;
    return {};
  }
}

class UserDataCli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_python_modules()) GTEST_SKIP() << "Debian's python3 with numpy, h5py and Pillow is missing";
    if (!fs::exists(kRyecatcher)) GTEST_SKIP() << "no ../shared";
  }
};

TEST_F(UserDataCli, FashionMnistAsNpzPngAndCsvGivesTheBuiltInAccuracy) {
  if (!fs::exists("/usr/share/datasets/fashion-mnist")) GTEST_SKIP() << "no dataset-fashion-mnist";
  auto dir = scratch("fmnist_files");
  // The whole test set in each format; a slice of the training set (only the test split is evaluated).
  ASSERT_NO_FATAL_FAILURE(python(dir, read_idx_lines("/usr/share/datasets/fashion-mnist") + R"(
from PIL import Image
np.savez_compressed('f.npz', x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
for split, x, y in (('train', xtr[:500], ytr[:500]), ('test', xte, yte)):
    for i in range(len(x)):
        p = 'img/%s/%d' % (split, y[i])
        os.makedirs(p, exist_ok=True)
        Image.fromarray(x[i]).save('%s/%05d.png' % (p, i))
header = ','.join(['p%d' % i for i in range(784)] + ['label'])
for name, x, y in (('train.csv', xtr[:500], ytr[:500]), ('test.csv', xte, yte)):
    np.savetxt(name, np.hstack([x.reshape(len(x), -1), y[:, None]]), fmt='%d', delimiter=',', header=header, comments='')
)"));
  // The Keras LeNet (channels-last 28x28x1) trained on raw MNIST pixels: a fixed model, any accuracy will do.
  const std::string model = kRyecatcher;
  nlohmann::json builtin = eval_json(model, "--data fashion-mnist --scale raw");
  for (const std::string& flags : {"--data npz:" + (dir / "f.npz").string(), "--data images:" + (dir / "img").string(),
                                   "--data csv:" + (dir / "train.csv").string() + "," + (dir / "test.csv").string()}) {
    nlohmann::json own = eval_json(model, flags + " --scale raw");
    EXPECT_EQ(own["samples"], 10000) << flags;
    EXPECT_EQ(own["accuracy"], builtin["accuracy"]) << flags;
    EXPECT_EQ(own["per_class_accuracy"], builtin["per_class_accuracy"]) << flags;
    EXPECT_NEAR(own["loss"].get<double>(), builtin["loss"].get<double>(), 1e-6) << flags;
  }
}

TEST_F(UserDataCli, HarWindowsAsChannelsLastNpyGiveTheBuiltInAccuracy) {
  auto dir = scratch("har_files");
  // A channels-last Keras model: har-cnn trained one epoch by snare and written as Keras HDF5 (input (128, 9)).
  const std::string model = (dir / "har.h5").string();
  auto r = run_snare("train --arch har-cnn --data har --epochs 1 -o " + model);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // The built-in windows, written as a Keras user holds them: (N, 128, 9) float32, subjects in groups_train.
  snare::data::Dataset har = snare::data::load_dataset("har", {snare::data::Scale::kRaw});
  auto save = [&](const std::string& name, const at::Tensor& t) {
    at::Tensor c = t.contiguous();
    std::ofstream(dir / (name + ".raw"), std::ios::binary)
        .write(static_cast<const char*>(c.data_ptr()), static_cast<std::streamsize>(c.nbytes()));
  };
  save("xtr", har.train.x.permute({0, 2, 1}));
  save("xte", har.test.x.permute({0, 2, 1}));
  save("ytr", har.train.y);
  save("yte", har.test.y);
  save("gtr", har.train.groups);
  ASSERT_NO_FATAL_FAILURE(python(dir, R"(
os.makedirs('npy', exist_ok=True)
np.save('npy/x_train.npy', np.fromfile('xtr.raw', '<f4').reshape(-1, 128, 9))
np.save('npy/x_test.npy', np.fromfile('xte.raw', '<f4').reshape(-1, 128, 9))
np.save('npy/y_train.npy', np.fromfile('ytr.raw', '<i8'))
np.save('npy/y_test.npy', np.fromfile('yte.raw', '<i8'))
np.save('npy/groups_train.npy', np.fromfile('gtr.raw', '<i8').astype(np.int32))
)"));
  nlohmann::json builtin = eval_json(model, "--data har");
  nlohmann::json own = eval_json(model, "--data npy:" + (dir / "npy").string());
  EXPECT_EQ(own["samples"], builtin["samples"]);
  EXPECT_EQ(own["accuracy"], builtin["accuracy"]);
  EXPECT_EQ(own["per_class_accuracy"], builtin["per_class_accuracy"]);
  // The same windows declared channels-first do not fit the model: the message shows both shapes.
  r = run_snare("eval " + model + " --data npy:" + (dir / "npy").string() + " --layout channels-first");
  EXPECT_EQ(r.exit_code, 5) << r.output;
  EXPECT_NE(r.output.find("(128, 9)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("(9, 128)"), std::string::npos) << r.output;
}

TEST_F(UserDataCli, ReduceRunsOnAnNpzAndAnImageFolder) {
  auto dir = scratch("reduce_files");
  ASSERT_NO_FATAL_FAILURE(python(dir, read_idx_lines(fs::absolute("data/mnist").string()) + R"(
from PIL import Image
np.savez('m.npz', x_train=xtr[:1500], y_train=ytr[:1500], x_test=xte[:500], y_test=yte[:500])
for i in range(1500):
    p = 'img/%d' % ytr[i]
    os.makedirs(p, exist_ok=True)
    Image.fromarray(xtr[i]).convert('RGB').save('%s/%04d.png' % (p, i))
)"));
  const std::string quick = " --scale raw --time-limit 0.05 --retrain-batches 2 --finetune-epochs 1 --no-lowrank "
                            "--max-loss 5 --val-split 0.2 --confirm-split 0.1";
  for (const std::string& data : {"npz:" + (dir / "m.npz").string(), "images:" + (dir / "img").string()}) {
    const std::string extra = data.rfind("images", 0) == 0 ? " --test-split 0.2" : "";
    const fs::path out = dir / (data.substr(0, data.find(':')) + ".h5");
    auto r = run_snare(std::string("reduce ") + kRyecatcher + " --data " + data + extra + quick + " -o " + out.string());
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_TRUE(fs::exists(out)) << data;
    std::ifstream in(fs::path(out).replace_extension("").string() + "_report/report.json");
    nlohmann::json report = nlohmann::json::parse(in);
    EXPECT_EQ(report["data"], data);
    EXPECT_GE(report["steps"].size(), 1u) << data;
  }
}

struct BadInput {
  const char* name;
  const char* spec;    ///< --data and flags, with DIR standing for the test's folder
  const char* expect;  ///< a piece of the message
};

TEST_F(UserDataCli, EveryBadInputExitsWith5NamesTheProblemAndWritesNothing) {
  auto dir = scratch("bad_files");
  ASSERT_NO_FATAL_FAILURE(python(dir, R"(
import h5py
from PIL import Image
rng = np.random.default_rng(0)
x = rng.integers(0, 255, (20, 28, 28), dtype=np.uint8)
y = np.arange(20) % 10
np.savez('ok.npz', x_train=x, y_train=y, x_test=x, y_test=y)
np.savez('short_y.npz', x_train=x, y_train=y[:19], x_test=x, y_test=y)
np.savez('label_range.npz', x_train=x, y_train=np.where(np.arange(20) == 13, 12, y), x_test=x, y_test=y)
np.savez('label_float.npz', x_train=x, y_train=np.where(np.arange(20) == 4, 2.5, y), x_test=x, y_test=y)
xf = x.astype(np.float32); xf[7, 3, 3] = np.nan
np.savez('nan.npz', x_train=xf, y_train=y, x_test=x, y_test=y)
np.savez('no_test.npz', x_train=x, y_train=y, x_test=x)
np.savez('empty.npz', x_train=x, y_train=y, x_test=x[:0], y_test=y[:0])
np.savez('shape.npz', x_train=x[:, :27, :], y_train=y, x_test=x, y_test=y)
with h5py.File('no_key.h5', 'w') as f:
    f['x_train'] = x; f['y_train'] = y; f['x_test'] = x
os.makedirs('npy', exist_ok=True)
for n, a in (('x_train', x), ('y_train', y), ('x_test', x), ('y_test', y)):
    np.save('npy/%s.npy' % n, a)
b = open('npy/x_train.npy', 'rb').read()
open('npy/x_train.npy', 'wb').write(b[:len(b) - 100])
with open('ragged.csv', 'w') as f:
    f.write(','.join('p%d' % i for i in range(784)) + ',label\n')
    for i in range(5):
        f.write(','.join(['1'] * (784 if i != 3 else 783)) + ',%d\n' % (i % 2))
for c in range(3):
    for i in range(4):
        os.makedirs('imgs/train/%d' % c, exist_ok=True)
        os.makedirs('imgs/test/%d' % c, exist_ok=True)
        Image.fromarray(x[i]).save('imgs/train/%d/%d.png' % (c, i))
        Image.fromarray(x[i]).save('imgs/test/%d/%d.png' % (c, i))
os.makedirs('odd/train/0', exist_ok=True); os.makedirs('odd/test/0', exist_ok=True)
Image.fromarray(x[0]).save('odd/train/0/a.png'); Image.fromarray(x[0][:20]).save('odd/train/0/b.png')
Image.fromarray(x[0]).save('odd/test/0/a.png')
os.makedirs('broken/train/0', exist_ok=True); os.makedirs('broken/test/0', exist_ok=True)
Image.fromarray(x[0]).save('broken/train/0/a.png'); open('broken/train/0/z.png', 'wb').write(b'not a png')
Image.fromarray(x[0]).save('broken/test/0/a.png')
os.makedirs('fewclass/0', exist_ok=True); os.makedirs('fewclass/1', exist_ok=True)
for i in range(6):
    Image.fromarray(x[i]).save('fewclass/0/%d.png' % i)
Image.fromarray(x[0]).save('fewclass/1/only.png')
)"));
  const BadInput cases[] = {
      {"x/y length", "npz:DIR/short_y.npz", "20 samples but"},
      {"label range", "npz:DIR/label_range.npz", "label 12 at index 13"},
      {"label not integer", "npz:DIR/label_float.npz", "label 2.5 at index 4"},
      {"NaN", "npz:DIR/nan.npz", "sample 7"},
      {"missing NPZ key", "npz:DIR/no_test.npz", "no array 'y_test'"},
      {"missing HDF5 key", "h5:DIR/no_key.h5", "no array 'y_test'"},
      {"zero-sample split", "npz:DIR/empty.npz", "holds no samples"},
      {"wrong sample shape", "npz:DIR/shape.npz", "(27, 28)"},
      {"truncated NPY", "npy:DIR/npy", "truncated"},
      {"ragged CSV", "csv:DIR/ragged.csv --test-split 0.5", "line 5"},
      {"odd-sized image", "images:DIR/odd", "b.png"},
      {"unreadable image", "images:DIR/broken", "z.png"},
      {"empty class in a split", "images:DIR/fewclass --test-split 0.3", "class 1"},
      {"not an NPZ", "npz:DIR/ragged.csv", "ragged.csv"},
      {"missing file", "npz:DIR/nothing.npz", "nothing.npz"},
  };
  const fs::path out = dir / "m.h5";
  for (const BadInput& c : cases) {
    std::string flags = c.spec;
    for (size_t p; (p = flags.find("DIR")) != std::string::npos;) flags.replace(p, 3, dir.string());
    auto r = run_snare("train --arch lenet5 --epochs 1 --data " + flags + " -o " + out.string());
    EXPECT_EQ(r.exit_code, 5) << c.name << ": " << r.output;
    EXPECT_NE(r.output.find(c.expect), std::string::npos) << c.name << ": " << r.output;
    EXPECT_FALSE(fs::exists(out)) << c.name;
  }
  // The good file works, so the failures above are the data's.
  auto ok = run_snare("train --arch lenet5 --epochs 1 --data npz:" + (dir / "ok.npz").string() + " -o " + out.string());
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_TRUE(fs::exists(out));
}

}  // namespace
