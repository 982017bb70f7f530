// WISDM Activity Prediction v1.1, "transformed" ARFF: one row per 10 s of phone accelerometer data,
// 43 numeric features (X0..Z9 histogram bins, XAVG.., XPEAK.., XABSOLDEV.., XSTANDDEV.., RESULTANT),
// the user (1..36) and the activity class. UNIQUE_ID is dropped.
//
// Split by user: users 27..36 are the test users (1600 of 5418 rows, every class present), 1..26 train.
// Missing values ('?', only in XPEAK/YPEAK/ZPEAK: 474 of the 5418 rows, 343 of them Sitting/Standing, where no
// peaks are found) are replaced by the mean of that feature over the training users' present values,
// so standardised inputs see 0 there and no test statistic leaks into training.
//
// x is float32 [N, 43] raw values, y int64 in the order of wisdm_class_names(), groups = user.
//
//   data::Dataset d = data::load_wisdm("");  // ../shared/data/wisdm/WISDM_ar_v1.1_transformed.arff
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace snare::data {

inline constexpr int64_t kWisdmFeatures = 43;

/// Walking, Jogging, Upstairs, Downstairs, Sitting, Standing (class ids 0..5).
const std::vector<std::string>& wisdm_class_names();
/// The test users (27..36).
const std::vector<int64_t>& wisdm_test_users();

/// Reads the ARFF at `path`. Throws DataError naming the file and line for a malformed header,
/// a row with the wrong number of values, a non-numeric feature, an unknown class or a bad user.
Dataset read_wisdm_arff(const std::string& path);

/// The `--data wisdm[:PATH]` loader: PATH or the shared ARFF found by find_shared_data.
Dataset load_wisdm(const std::string& arg);

}  // namespace snare::data
