// RandAugment / AutoAugment pixel operations on one uint8 HWC image (1 channel: Pillow's "L",
// 3: "RGB") on the CPU, as Pillow 13 computes them (ImageOps, ImageEnhance, Image.rotate and
// Image.transform; libImaging's Blend.c, Filter.c, Convert.c, Geometry.c), and torchvision's
// adjust_hue on PIL images. Parameters come from augment_params.h.
//
// Knows nothing of DALI: plain pointers, a shape and a scratch of the caller's.
#ifndef DALI_MIXUP_KERNELS_AUGMENT_CPU_H_
#define DALI_MIXUP_KERNELS_AUGMENT_CPU_H_

#include <cstdint>
#include <utility>

#include "augment_affine.h"
#include "augment_common.h"
#include "augment_enhance.h"
#include "augment_hue.h"
#include "augment_params.h"
#include "augment_point.h"

namespace dali_mixup {
namespace kernels {
namespace augment {

// One op from src to dst (distinct buffers of s.Bytes()).
inline void RunOp(const OpParams &p, const uint8_t *src, uint8_t *dst, const Shape &s, Resample resample,
                  const uint8_t *fill, Scratch &scratch) {
  const float alpha = static_cast<float>(p.value);  // Blend.c's float alpha
  switch (p.kind) {
    case Kind::kAutoContrast: HistogramLuts(src, dst, s, false); break;
    case Kind::kEqualize: HistogramLuts(src, dst, s, true); break;
    case Kind::kInvert:
    case Kind::kPosterize:
    case Kind::kSolarize:
    case Kind::kSolarizeAdd:
    case Kind::kBrightness: ApplyLut(src, dst, s, PointLut(p.kind, p.value)); break;
    case Kind::kContrast: Contrast(src, dst, s, alpha); break;
    case Kind::kColor: Color(src, dst, s, alpha); break;
    case Kind::kSharpness: Sharpness(src, dst, s, alpha); break;
    case Kind::kHue: Hue(src, dst, s, p.value); break;
    case Kind::kTranspose: Transpose(src, dst, s, static_cast<int>(p.value)); break;
    case Kind::kAffine: Affine(src, dst, s, p.matrix, resample, fill, scratch); break;
    default: std::memcpy(dst, src, s.Bytes()); break;
  }
}

// The ops in order, ping-ponging between the scratch buffers, the last writing to dst;
// no-op ops are skipped (no ops: a copy).
inline void ApplyOps(const uint8_t *src, uint8_t *dst, const Shape &s, const int *ops, const float *levels,
                     const int *filters, int count, const Hparams &hp, const uint8_t *fill, Scratch &scratch) {
  std::vector<OpParams> params;
  std::vector<Resample> resamples;
  for (int k = 0; k < count; k++) {
    const OpParams p = Resolve(ops[k], static_cast<double>(levels[k]), s.w, s.h, hp, Round15);
    if (p.kind == Kind::kCopy) continue;
    params.push_back(p);
    resamples.push_back(static_cast<Resample>(filters[k]));
  }
  if (params.empty()) {
    std::memcpy(dst, src, s.Bytes());
    return;
  }
  // Op k < n - 1 writes to ping (k even) or pong (k odd); the last one to dst.
  if (params.size() > 1) scratch.ping.resize(s.Bytes());
  if (params.size() > 2) scratch.pong.resize(s.Bytes());
  const uint8_t *from = src;
  for (size_t k = 0; k < params.size(); k++) {
    uint8_t *to = k + 1 == params.size() ? dst : (k % 2 ? scratch.pong.data() : scratch.ping.data());
    RunOp(params[k], from, to, s, resamples[k], fill, scratch);
    from = to;
  }
}

}  // namespace augment
}  // namespace kernels
}  // namespace dali_mixup

#endif  // DALI_MIXUP_KERNELS_AUGMENT_CPU_H_
