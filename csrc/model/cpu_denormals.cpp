#include "model/cpu_denormals.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>

namespace arl2::model {

void flush_cpu_denormals() {
  at::globalContext().setFlushDenormal(true);
  // one index of the parallel loop for each worker
  at::parallel_for(0, at::get_num_threads(), 1, [](int64_t, int64_t) { at::globalContext().setFlushDenormal(true); });
}

} // namespace arl2::model
