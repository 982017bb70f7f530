// Human activity recognition windows in the layout of UCI HAR's "Inertial Signals", built from the raw
// HAPT v2.1 recordings (the same 30 subjects) or read from an original "UCI HAR Dataset" folder.
//
// The pipeline (build_har_windows) follows the UCI HAR recipe, one recording at a time:
//   1. median filter (3 samples), then a 3rd-order Butterworth low-pass at 20 Hz, both axes of the
//      accelerometer (g) and gyroscope (rad/s): total_acc and body_gyro;
//   2. a 3rd-order Butterworth low-pass at 0.3 Hz of total_acc estimates gravity; body_acc = total - gravity;
//      all filters are zero-phase (forward-backward), as for an offline data set;
//   3. windows of 128 samples (2.56 s) with 50% overlap inside each labelled segment of activities 1-6
//      (transitions 7-12 are skipped; a segment shorter than 128 samples gives no window);
//   4. the official split by subject: test subjects 2,4,9,10,12,13,18,20,24.
// x is float32 [N, 9, 128] (body_acc xyz, body_gyro xyz, total_acc xyz), y int64 0..5 (activity - 1),
// groups = subject id. Values are raw (g, rad/s); scaling is the caller's (load_dataset).
//
// It does not compute UCI HAR's 561 features, nor reproduce UCI HAR's exact windows: HAPT v2.1
// re-annotated the static postures, so counts differ slightly (docs/data.md lists them).
//
//   data::Dataset d = data::load_har("");             // ../shared tarball, cached under data/har/
//   data::Dataset u = data::load_har("UCI HAR Dataset");
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace snare::data {

inline constexpr int kHarChannels = 9;
inline constexpr int kHarWindow = 128;
inline constexpr int kHarStep = 64;
inline constexpr double kHarSampleRate = 50.0;

/// Subjects of UCI HAR's test split.
const std::vector<int64_t>& har_test_subjects();
/// WALKING ... LAYING (activities 1-6).
const std::vector<std::string>& har_class_names();
/// body_acc_x ... total_acc_z, in the channel order of x.
const std::vector<std::string>& har_channel_names();

/// One HAPT experiment: rows x 3 samples at 50 Hz, row-major.
struct HaptRecording {
  int64_t experiment = 0, user = 0, rows = 0;
  std::vector<double> acc, gyro;
};

/// One line of RawData/labels.txt; rows are 1-based and inclusive, as in the file.
struct HaptSegment {
  int64_t experiment = 0, user = 0, activity = 0, start = 0, end = 0;
  int64_t line = 0;  ///< line in labels.txt, for messages
};

struct HaptRaw {
  std::string source;  ///< tarball or folder, for messages
  std::vector<HaptSegment> segments;
  std::map<int64_t, HaptRecording> recordings;  ///< by experiment
};

/// Reads RawData/labels.txt and every acc_/gyro_ file it refers to from the HAPT tarball.
/// Throws DataError naming the tarball (and member, line) when it is corrupt, truncated or inconsistent.
HaptRaw read_hapt_tarball(const std::string& path);
/// Same from an unpacked folder holding labels.txt and the acc_expXX_userYY.txt / gyro_... files.
HaptRaw read_hapt_folder(const std::string& raw_data_dir);

/// The nine channels of one recording after filtering (steps 1-2 above), each `rows` long.
std::vector<std::vector<double>> har_channels(const HaptRecording& recording);

/// Steps 1-4: windows of every labelled segment of activities 1-6, split by subject.
Dataset build_har_windows(const HaptRaw& raw);

/// Reads an original "UCI HAR Dataset" folder (train/ and test/ with "Inertial Signals",
/// y_*.txt, subject_*.txt). Throws DataError naming a missing or malformed file.
Dataset read_uci_har_folder(const std::string& dir);

/// The `--data har[:ARG]` loader. ARG empty: the HAPT tarball found by find_shared_data; ARG a
/// .tar.xz file; or a folder holding the tarball, an unpacked HAPT folder (RawData/ with labels.txt,
/// or that folder itself) or a UCI HAR folder (train/Inertial Signals, also one level down in
/// "UCI HAR Dataset/"). Built windows are cached in data_root()/har/ (see docs/data.md); a cache that
/// is missing, stale or from another format version is rebuilt, and one that cannot be written is skipped.
Dataset load_har(const std::string& arg);

}  // namespace snare::data
