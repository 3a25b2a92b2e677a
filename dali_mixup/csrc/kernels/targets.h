// Label smoothing and label mixing: lam * smooth(y_i) + (1 - lam) * smooth(y_partner), as
// timm's mixup_target. Host code over plain arrays.
#ifndef DALI_MIXUP_KERNELS_TARGETS_H_
#define DALI_MIXUP_KERNELS_TARGETS_H_

#include <algorithm>

#include "mix_params.h"

namespace dali_mixup {
namespace kernels {

// One row of `classes` values smoothed in place: t * (1 - s) + s / classes; the two factors
// are computed in double and then taken to float32, as the Python side does.
inline void Smooth(float *row, int classes, float smoothing) {
  if (!(smoothing > 0)) return;
  const float keep = static_cast<float>(1.0 - static_cast<double>(smoothing));
  const float off = static_cast<float>(static_cast<double>(smoothing) / classes);
  for (int k = 0; k < classes; k++) row[k] = row[k] * keep + off;
}

// A one-hot row for class `id`.
inline void OneHot(float *row, int classes, int id) {
  std::fill(row, row + classes, 0.0f);
  row[id] = 1.0f;
}

// out[i] = smooth[i] * lam_i + smooth[partner_i] * (1 - lam_i), rows of `classes` values.
inline void MixTargets(const float *smooth, const Sample *samples, int n, int classes, float *out) {
  for (int i = 0; i < n; i++) {
    const float lam = samples[i].lam;
    const float *a = smooth + static_cast<long long>(i) * classes;
    const float *b = smooth + static_cast<long long>(samples[i].partner) * classes;
    float *t = out + static_cast<long long>(i) * classes;
    for (int k = 0; k < classes; k++) t[k] = a[k] * lam + b[k] * (1.0f - lam);
  }
}

}  // namespace kernels
}  // namespace dali_mixup

#endif  // DALI_MIXUP_KERNELS_TARGETS_H_
