#include "common/progress.h"

namespace snare {

ProgressSink& null_progress() {
  static ProgressSink sink;
  return sink;
}

}  // namespace snare
